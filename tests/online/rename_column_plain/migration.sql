ALTER TABLE courses RENAME COLUMN title TO name;
