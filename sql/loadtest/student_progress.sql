-- report: the student_progress view for one course (the teacher's class list).
\set course_id random(:course_min, :course_max)
SELECT student_id, first_name, last_name, progress_percentage, status
FROM student_progress
WHERE course_id = :course_id
ORDER BY last_name, first_name;
