CREATE MATERIALIZED VIEW course_counts AS
SELECT category, count(*) AS courses FROM courses GROUP BY category;
