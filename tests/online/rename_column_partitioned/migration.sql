ALTER TABLE enrollments RENAME COLUMN notes TO remarks;
