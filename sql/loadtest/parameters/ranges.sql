-- The id ranges the load-test scripts draw from, and where "the last eight weeks" of the
-- data start (from the newest progress rows by id: no index on completed_at is needed).
SELECT (SELECT min(id) FROM users WHERE role = 'student') AS student_min,
       (SELECT max(id) FROM users WHERE role = 'student') AS student_max,
       (SELECT min(id) FROM users WHERE role = 'teacher') AS teacher_min,
       -- id + 0: not by the key's index. Teachers are loaded before the students, so
       -- reading the key backwards walks every student first (2.9 s at 1,000,000 students
       -- against 0.08 s for a scan of the table).
       (SELECT max(id + 0) FROM users WHERE role = 'teacher') AS teacher_max,
       (SELECT min(id) FROM courses) AS course_min,
       (SELECT max(id) FROM courses) AS course_max,
       (SELECT min(id) FROM enrollment_keys) AS enrollment_min,
       (SELECT max(id) FROM enrollment_keys) AS enrollment_max,
       (SELECT min(id) FROM assessments) AS assessment_min,
       (SELECT max(id) FROM assessments) AS assessment_max,
       (SELECT coalesce(max(completed_at), localtimestamp) - interval '8 weeks'
          FROM module_progress
         WHERE id > (SELECT coalesce(max(id), 0) - 100000 FROM module_progress)) AS since
