-- DROP INDEX takes ACCESS EXCLUSIVE on the table.
-- expect: index-not-concurrently 4:1

DROP INDEX idx_courses_category;
