-- The safe rewrite of a volatile default: add, then SET DEFAULT for new rows.
-- expect: clean

ALTER TABLE users ADD COLUMN api_token uuid;
ALTER TABLE users ALTER COLUMN api_token SET DEFAULT gen_random_uuid();
