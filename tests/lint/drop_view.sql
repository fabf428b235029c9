-- Dropping an existing view breaks what reads it.
-- expect: drop-object 4:1

DROP VIEW course_stats;
