CREATE FUNCTION course_title(p_id integer) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT title::text FROM courses WHERE id = p_id $$;
