DROP POLICY active_courses ON courses;
DROP POLICY "teachers' courses" ON courses;
