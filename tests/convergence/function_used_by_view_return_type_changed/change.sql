DROP VIEW course_titles;
DROP FUNCTION course_title(integer);
CREATE FUNCTION course_title(p_id integer) RETURNS varchar
LANGUAGE sql STABLE AS $$ SELECT title FROM courses WHERE id = p_id $$;
CREATE VIEW course_titles AS SELECT id, course_title(id) AS label FROM courses;
