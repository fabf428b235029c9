ALTER TYPE course_level RENAME VALUE 'beginner' TO 'novice';
