-- Dropping an existing table loses its data.
-- expect: drop-table 4:1

DROP TABLE assessment_submissions;
