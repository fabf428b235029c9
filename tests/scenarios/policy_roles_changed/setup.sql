ALTER POLICY active_courses ON courses TO PUBLIC;
