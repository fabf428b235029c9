ALTER TYPE course_level RENAME TO course_level_old;
CREATE TYPE course_level AS ENUM ('beginner', 'intermediate');
ALTER TABLE courses ALTER COLUMN level TYPE course_level USING level::text::course_level;
DROP TYPE course_level_old;
