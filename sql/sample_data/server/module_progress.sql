-- module_progress's rows, made by the second session for COPY (sample-data): draws on
-- streams 0-9 of the progress id (0 and 2 are the start and finish in sample_progress).
COPY (
SELECT id, enrollment_id, module_id, pg_temp.sample_ts(started),
       CASE WHEN completed THEN pg_temp.sample_ts(finished) END,
       CASE WHEN completed
            THEN floor(minutes * (0.8 + 0.8 * pg_temp.sample_u(id, 4)))::int * attempts
            ELSE floor(minutes * (0.1 + 0.6 * pg_temp.sample_u(id, 4)))::int END,
       CASE WHEN completed AND kind IN ('quiz', 'assignment')
            THEN round(least(greatest(mean + 10.0 * pg_temp.sample_gauss(id, 6), 0.0),
                             100.0)::numeric, 2) END,
       attempts,
       CASE WHEN completed THEN 'completed' ELSE 'in_progress' END
  FROM sample_progress
 CROSS JOIN LATERAL (SELECT CASE WHEN NOT (completed AND kind = 'quiz') THEN 1
                                 WHEN pg_temp.sample_u(id, 8) < 0.7 THEN 1
                                 WHEN pg_temp.sample_u(id, 8) < 0.92 THEN 2
                                 ELSE 3 END AS attempts) AS a
) TO STDOUT
