DROP POLICY "teachers' courses" ON courses;
CREATE POLICY "teachers' courses" ON courses FOR UPDATE USING (instructor_id > 0);
