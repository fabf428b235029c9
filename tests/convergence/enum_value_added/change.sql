ALTER TYPE course_level ADD VALUE 'expert';
