-- online: down coalesce(role, 'student')
ALTER TABLE users ALTER COLUMN role DROP NOT NULL;
