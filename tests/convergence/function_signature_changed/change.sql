DROP FUNCTION course_title(integer);
CREATE FUNCTION course_title(p_id bigint) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT title::text FROM courses WHERE id = p_id $$;
