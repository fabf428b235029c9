-- Widening a varchar (or to text) is binary compatible: no rewrite.
-- expect: clean

ALTER TABLE courses ALTER COLUMN title TYPE varchar(500);
ALTER TABLE courses ALTER COLUMN category TYPE text;
