CREATE MATERIALIZED VIEW course_counts AS
SELECT category, count(*) AS courses FROM courses GROUP BY category;
CREATE UNIQUE INDEX course_counts_category ON course_counts (category);
