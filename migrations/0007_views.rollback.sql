DROP VIEW course_stats;
DROP VIEW student_progress;
