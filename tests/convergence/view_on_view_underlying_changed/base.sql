CREATE VIEW popular_courses AS
SELECT id, title FROM course_stats WHERE enrolled_students > 100;
