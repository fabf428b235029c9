-- What sample-data promises after a bulk load, each as a count of rows that break it
-- (all must be 0). Uniqueness (emails, one enrollment per student and course) and every
-- foreign key were validated when the constraints were re-added; these add that each row
-- has its key row with the same values and that progress is on the enrolled course.
SELECT 'users without their email key' AS guarantee,
       (SELECT count(*) FROM users u
         WHERE NOT EXISTS (SELECT 1 FROM user_email_keys k
                            WHERE k.user_id = u.id AND k.email_key = lower(u.email))) AS broken
UNION ALL
SELECT 'enrollments without their key row',
       (SELECT count(*) FROM enrollments e
         WHERE NOT EXISTS (SELECT 1 FROM enrollment_keys k
                            WHERE k.id = e.id AND k.enrolled_at = e.enrolled_at
                              AND k.student_id = e.student_id AND k.course_id = e.course_id))
UNION ALL
SELECT 'courses whose search terms are not their vector''s lexemes',
       (SELECT count(*) FROM courses c
         WHERE length(c.search_vector)
               <> (SELECT count(*) FROM course_search_terms t WHERE t.course_id = c.id))
UNION ALL
SELECT 'progress on a module outside the enrolled course',
       (SELECT count(*) FROM module_progress p
          JOIN enrollment_keys k ON k.id = p.enrollment_id
          JOIN course_modules m ON m.id = p.module_id
         WHERE m.course_id <> k.course_id)
