INSERT INTO assessments (id, course_id, title, assessment_type, total_points) SELECT 90002, min(id), 'new', 'quiz', 12.0 FROM courses;
UPDATE assessments SET total_points = total_points + 1 WHERE id = 90001;
