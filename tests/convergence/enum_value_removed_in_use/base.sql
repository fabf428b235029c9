CREATE TYPE course_level AS ENUM ('beginner', 'intermediate', 'advanced');
ALTER TABLE courses ADD COLUMN level course_level;
