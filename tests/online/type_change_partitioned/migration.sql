-- online: down last_login AT TIME ZONE 'UTC'
ALTER TABLE users ALTER COLUMN last_login TYPE timestamptz USING last_login AT TIME ZONE 'UTC';
