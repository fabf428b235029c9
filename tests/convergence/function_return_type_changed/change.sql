DROP FUNCTION course_title(integer);
CREATE FUNCTION course_title(p_id integer) RETURNS varchar
LANGUAGE sql STABLE AS $$ SELECT title FROM courses WHERE id = p_id $$;
