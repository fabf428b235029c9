-- Changing to timestamp rewrites the table, and the new type has no time zone.
-- expect: rewrite-column-type 5:1
-- expect: timestamp-without-time-zone 5:1

ALTER TABLE users ALTER COLUMN last_login TYPE timestamp(0);
