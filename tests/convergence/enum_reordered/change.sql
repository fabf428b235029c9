DROP TYPE course_level;
CREATE TYPE course_level AS ENUM ('advanced', 'intermediate', 'beginner');
