-- USING forces a rewrite even between compatible types.
-- expect: rewrite-column-type 4:1

ALTER TABLE courses ALTER COLUMN category TYPE text USING trim(category);
