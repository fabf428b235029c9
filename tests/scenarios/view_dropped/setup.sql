DROP VIEW student_progress;
