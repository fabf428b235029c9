-- Dropping a default breaks INSERTs that leave the column out.
-- expect: drop-default 4:1

ALTER TABLE users ALTER COLUMN is_active DROP DEFAULT;
