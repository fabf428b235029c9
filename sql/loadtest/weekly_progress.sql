-- report: a school's weekly progress: modules completed and mean score per week over the
-- last eight weeks of the data, for the courses of one teacher (the schema has no school
-- table; a teacher's classes stand for one school's subject). By idx_courses_instructor,
-- idx_modules_course and idx_progress_module.
\set teacher_id random(:teacher_min, :teacher_max)
SELECT date_trunc('week', p.completed_at) AS week, count(*) AS modules_completed,
       round(avg(p.score), 1) AS mean_score
FROM courses c
JOIN course_modules m ON m.course_id = c.id
JOIN module_progress p ON p.module_id = m.id
WHERE c.instructor_id = :teacher_id
  AND p.completed_at >= {{ since | sql_literal }}::timestamp
GROUP BY 1
ORDER BY 1;
