DROP POLICY active_courses ON courses;
CREATE POLICY active_courses ON courses AS RESTRICTIVE FOR SELECT TO pg_read_all_data, pg_monitor USING (is_active);
