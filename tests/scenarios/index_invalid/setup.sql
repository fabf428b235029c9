-- an INVALID index (as a failed concurrent build leaves) is drift
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_courses_grade'::regclass;
