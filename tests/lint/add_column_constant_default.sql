-- A constant (or stable) default is stored once: no rewrite since PostgreSQL 11.
-- expect: clean

ALTER TABLE users ADD COLUMN is_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN verified_at timestamptz DEFAULT now();
