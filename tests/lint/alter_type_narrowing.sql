-- A shorter varchar rescans the table and rejects what no longer fits.
-- expect: rewrite-column-type 5:1
-- expect: narrow-column-type 5:1

ALTER TABLE courses ALTER COLUMN title TYPE varchar(100);
