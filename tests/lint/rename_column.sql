-- Renaming a column breaks the running application's queries.
-- expect: rename-column 4:1

ALTER TABLE courses RENAME COLUMN duration TO duration_text;
