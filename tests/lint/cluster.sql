-- CLUSTER rewrites the table under ACCESS EXCLUSIVE.
-- expect: cluster 4:1

CLUSTER courses USING idx_courses_grade;
