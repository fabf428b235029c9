DROP VIEW course_stats;
