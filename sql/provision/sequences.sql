-- Every sequence of the database with where it stands: the rollback-isolated test
-- connection records this once and puts back, after each test, the ones a test advanced
-- (nextval is not undone by ROLLBACK).
SELECT s.seqrelid AS oid, pg_sequence_last_value(s.seqrelid) AS last_value,
       s.seqstart AS start_value
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
WHERE c.relpersistence <> 't'
