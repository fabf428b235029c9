CREATE TYPE course_level AS ENUM ('beginner', 'intermediate', 'advanced');
