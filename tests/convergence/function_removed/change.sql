DROP FUNCTION course_title(integer);
