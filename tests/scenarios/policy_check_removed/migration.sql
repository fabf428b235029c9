ALTER TABLE courses ENABLE ROW LEVEL SECURITY;
CREATE POLICY active_courses ON courses FOR SELECT TO pg_read_all_data, pg_monitor
    USING (is_active);
CREATE POLICY "teachers' courses" ON courses FOR UPDATE
    USING (instructor_id > 0) WITH CHECK (grade BETWEEN 7 AND 9);
