ALTER TABLE course_modules ALTER COLUMN title TYPE varchar(255) COLLATE "C";
