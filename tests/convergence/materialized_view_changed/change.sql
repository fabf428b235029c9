DROP MATERIALIZED VIEW course_counts;
CREATE MATERIALIZED VIEW course_counts AS
SELECT grade, category, count(*) AS courses FROM courses GROUP BY grade, category;
