-- A nullable column without a default is a catalog-only change.
-- expect: clean

ALTER TABLE users ADD COLUMN bio text;
