-- The second session's inputs for module progress and submissions (sample-data): what the
-- generator planned (modules, assessments, each enrollment's pace, mean score and reach),
-- and its random draws: sample_u(key, stream), uniform in [0, 1), is a hash of the key,
-- the seed's salt and a stream number, so every value follows from the plan and the seed,
-- whatever order the server computes rows in. Temporary, dropped with the transaction.
CREATE TEMP TABLE sample_modules (
    module_id int PRIMARY KEY, kind text NOT NULL, minutes int NOT NULL, assessment_id int
) ON COMMIT DROP;
CREATE TEMP TABLE sample_assessments (
    assessment_id int PRIMARY KEY, points int NOT NULL, kind text NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE sample_enrollments (
    enrollment_id int NOT NULL, student_id int NOT NULL, course_id int NOT NULL,
    teacher_id int NOT NULL, enrolled_at bigint NOT NULL, first_module int NOT NULL,
    n_modules int NOT NULL, pace bigint NOT NULL, mean float8 NOT NULL, done int NOT NULL,
    started int NOT NULL, first_progress int NOT NULL, final_assessment int
) ON COMMIT DROP;
CREATE FUNCTION pg_temp.sample_u(key bigint, stream int) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((hashint8extended(key, {salt} + stream) >> 11) & 9007199254740991)::float8
                 / 9007199254740992.0 $$;
-- The timestamp `seconds` after the generator's reference day.
CREATE FUNCTION pg_temp.sample_ts(seconds bigint) RETURNS timestamp
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT {t0}::timestamp + seconds * interval '1 second' $$;
-- `value` to two decimals, through an integer: a double's own conversion to numeric
-- formats it as text first, several times the cost (a score on most progress rows).
CREATE FUNCTION pg_temp.sample_hundredths(value float8) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT round(value * 100)::bigint * 0.01 $$;
-- A normal draw (Box-Muller over the streams stream and stream + 1).
CREATE FUNCTION pg_temp.sample_gauss(key bigint, stream int) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT sqrt(-2.0 * ln(1.0 - pg_temp.sample_u(key, stream)))
                 * cos(2.0 * pi() * pg_temp.sample_u(key, stream + 1)) $$;
-- The modules with an assessment, for the submissions' candidates.
CREATE INDEX ON sample_modules (module_id) WHERE assessment_id IS NOT NULL;
-- When a student started the module at position `pos` of an enrollment (progress id `id`),
-- and when they finished it, in seconds from the reference day (streams 0 and 2 of the id).
CREATE FUNCTION pg_temp.sample_started(id bigint, enrolled_at bigint, pos int, pace bigint)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT enrolled_at + pos * pace
                 + floor(pg_temp.sample_u(id, 0) * pace * 0.25)::bigint $$;
CREATE FUNCTION pg_temp.sample_finished(id bigint, started bigint, pace bigint)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT started + floor(pace * (0.125 + 0.375 * pg_temp.sample_u(id, 2)))::bigint $$;
-- Every module a student started: the modules of the course in order, the first `done`
-- completed, the next one open when started > done.
CREATE TEMP VIEW sample_progress AS
SELECT id, enrollment_id, module_id, completed, mean, kind, minutes, started,
       pg_temp.sample_finished(id, started, pace) AS finished
  FROM (SELECT e.first_progress + s.pos AS id, e.enrollment_id,
               e.first_module + s.pos AS module_id, s.pos < e.done AS completed, e.mean,
               m.kind, m.minutes, e.pace,
               pg_temp.sample_started(e.first_progress + s.pos, e.enrolled_at, s.pos, e.pace)
                   AS started
          FROM sample_enrollments e
         CROSS JOIN LATERAL generate_series(0, e.started - 1) AS s (pos)
          JOIN sample_modules m ON m.module_id = e.first_module + s.pos) AS p;
