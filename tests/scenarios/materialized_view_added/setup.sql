CREATE MATERIALIZED VIEW grade_counts AS SELECT grade, count(*) FROM users GROUP BY grade;
