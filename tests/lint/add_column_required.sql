-- NOT NULL without a default fails on a table with rows.
-- expect: add-required-column 4:1

ALTER TABLE users ADD COLUMN locale text NOT NULL;
