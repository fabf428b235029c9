-- module_progress's rows, made by the second session for a binary COPY (sample-data), each
-- column of the table's own type (the binary format carries no casts): draws on streams
-- 0-9 of the progress id (0 and 2 are the start and finish in sample_progress).
COPY (
SELECT id::int, enrollment_id::int, module_id::int, pg_temp.sample_ts(started)::timestamp,
       CASE WHEN completed THEN pg_temp.sample_ts(finished) END::timestamp,
       CASE WHEN completed
            THEN floor(minutes * (0.8 + 0.8 * pg_temp.sample_u(id, 4)))::int * attempts
            ELSE floor(minutes * (0.1 + 0.6 * pg_temp.sample_u(id, 4)))::int END::int,
       CASE WHEN completed AND kind IN ('quiz', 'assignment')
            THEN pg_temp.sample_hundredths(least(greatest(mean + 10.0
                                                          * pg_temp.sample_gauss(id, 6), 0.0),
                                                 100.0)) END::numeric(5,2),
       attempts::int,
       CASE WHEN completed THEN 'completed' ELSE 'in_progress' END::varchar(50)
  FROM sample_progress
 CROSS JOIN LATERAL (SELECT CASE WHEN NOT (completed AND kind = 'quiz') THEN 1
                                 WHEN pg_temp.sample_u(id, 8) < 0.7 THEN 1
                                 WHEN pg_temp.sample_u(id, 8) < 0.92 THEN 2
                                 ELSE 3 END AS attempts) AS a
) TO STDOUT (FORMAT binary)
