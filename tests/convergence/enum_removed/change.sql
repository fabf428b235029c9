DROP TYPE course_level;
