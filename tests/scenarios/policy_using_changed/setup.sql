ALTER POLICY "teachers' courses" ON courses USING (instructor_id > 1) WITH CHECK (grade >= 7);
