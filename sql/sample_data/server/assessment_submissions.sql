-- assessment_submissions's rows, made by the second session for a binary COPY (sample-data),
-- each column of the table's own type (the binary format carries no casts): most
-- students who complete a module with an assessment submit it (streams 10-13 of the
-- progress id), most who complete a course its end-of-term project (streams 14-17 of the
-- enrollment id); ids follow the submission time, then assessment and student, and each
-- submission's own draws are on streams 20-35 of its id (40 of id * 32 + i for a quiz's
-- i-th answer). Parameters are merged client-side (COPY takes none).
COPY (
WITH completed AS (
    -- the completed modules with an assessment (the first `done` of the course's modules),
    -- with their progress id and times as module_progress has them
    SELECT p.id, e.student_id, e.teacher_id, e.mean, m.assessment_id, t.started,
           pg_temp.sample_finished(p.id, t.started, e.pace) AS finished
      FROM sample_enrollments e
      JOIN sample_modules m
        ON m.assessment_id IS NOT NULL
       AND m.module_id >= e.first_module AND m.module_id < e.first_module + e.done
     CROSS JOIN LATERAL (SELECT e.first_progress + (m.module_id - e.first_module) AS id,
                                m.module_id - e.first_module AS pos) AS p
     CROSS JOIN LATERAL (SELECT pg_temp.sample_started(p.id, e.enrolled_at, p.pos, e.pace)
                                    AS started) AS t
     WHERE pg_temp.sample_u(p.id, 12) < %(share)s
), submitted AS (
    SELECT c.assessment_id, c.student_id, c.teacher_id, c.mean,
           greatest(c.started, c.finished - floor(pg_temp.sample_u(c.id, 10) * 3600)::bigint)
               AS at
      FROM completed c
    UNION ALL
    SELECT e.final_assessment, e.student_id, e.teacher_id, e.mean,
           e.enrolled_at + e.n_modules * e.pace
           - floor(pg_temp.sample_u(e.enrollment_id, 14) * e.pace * 0.5)::bigint
      FROM sample_enrollments e
     WHERE e.final_assessment IS NOT NULL
       AND pg_temp.sample_u(e.enrollment_id, 16) < %(share)s
), numbered AS (
    SELECT row_number() OVER (ORDER BY s.at, s.assessment_id, s.student_id) AS id,
           s.assessment_id, s.student_id, s.teacher_id, s.mean, s.at, a.points, a.kind
      FROM submitted s
      JOIN sample_assessments a USING (assessment_id)
), drawn AS (
    SELECT n.*, g.graded,
           g.graded > %(reference)s
           OR (%(reference)s - n.at < 14 * 86400 AND pg_temp.sample_u(n.id, 20) < 0.4)
               AS waiting,
           n.kind <> 'quiz' AND pg_temp.sample_u(n.id, 22) < 0.15 AS returned
      FROM numbered n
     CROSS JOIN LATERAL (SELECT n.at + 6 * 3600
                                + floor(pg_temp.sample_u(n.id, 24) * 10 * 86400)::bigint
                                    AS graded) AS g
)
SELECT id::int, assessment_id::int, student_id::int, pg_temp.sample_ts(at)::timestamp,
       CASE WHEN kind = 'quiz'  -- a letter per five points, each drawn on stream 40
            THEN '{"answers": ['
                 || (SELECT string_agg('"' || chr(65 + floor(pg_temp.sample_u(id * 32 + i, 40)
                                                             * 4)::int) || '"',
                                       ', ' ORDER BY i)
                       FROM generate_series(1, points / 5) AS i)
                 || ']}'
            WHEN pg_temp.sample_u(id, 26) >= 0.6 THEN 'Please find my work attached.' END::text,
       CASE WHEN kind <> 'quiz'
            THEN 'https://files.watoto.example/submissions/' || assessment_id || '/'
                 || student_id
                 || CASE WHEN pg_temp.sample_u(id, 28) < 0.6 THEN '.pdf' ELSE '.jpg' END
            END::varchar(500),
       CASE WHEN NOT waiting
            THEN pg_temp.sample_hundredths(least(greatest(mean + 10.0
                                                          * pg_temp.sample_gauss(id, 30), 0.0),
                                                 100.0) * points / 100) END::numeric(5,2),
       CASE WHEN waiting THEN NULL
            WHEN returned
            THEN (%(returned)s::text[])[1 + floor(pg_temp.sample_u(id, 32)
                                                  * cardinality(%(returned)s::text[]))::int]
            WHEN pg_temp.sample_u(id, 34) < 0.5
            THEN (%(feedback)s::text[])[1 + floor(pg_temp.sample_u(id, 32)
                                                  * cardinality(%(feedback)s::text[]))::int]
            END::text,
       CASE WHEN NOT waiting THEN teacher_id END::int,
       CASE WHEN NOT waiting THEN pg_temp.sample_ts(graded) END::timestamp,
       CASE WHEN waiting THEN 'submitted' WHEN returned THEN 'returned' ELSE 'graded'
       END::varchar(50)
  FROM drawn
 ORDER BY id
) TO STDOUT (FORMAT binary)
