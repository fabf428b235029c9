CREATE PROCEDURE archive_course(p_id integer)
LANGUAGE sql AS $$ UPDATE courses SET is_active = false WHERE id = p_id $$;
