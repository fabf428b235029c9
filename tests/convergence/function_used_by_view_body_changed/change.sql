CREATE OR REPLACE FUNCTION course_title(p_id integer) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT upper(title) FROM courses WHERE id = p_id $$;
