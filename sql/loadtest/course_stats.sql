-- report: the course_stats view for one course (the teacher's course overview).
\set course_id random(:course_min, :course_max)
SELECT * FROM course_stats WHERE id = :course_id;
