-- A stored generated column is computed for every row.
-- expect: volatile-default 4:1

ALTER TABLE courses ADD COLUMN title_lower text GENERATED ALWAYS AS (lower(title)) STORED;
