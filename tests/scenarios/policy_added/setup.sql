CREATE POLICY "hand made" ON course_modules AS RESTRICTIVE FOR DELETE TO pg_monitor USING (false);
