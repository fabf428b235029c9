ALTER TABLE courses DROP COLUMN methodology;
