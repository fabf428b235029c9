-- A table without a primary key.
-- expect: no-primary-key 4:1

CREATE TABLE events (kind text NOT NULL, at timestamptz NOT NULL DEFAULT now());
