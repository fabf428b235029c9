CREATE POLICY assessments_graded ON assessments
    FOR SELECT USING (is_graded);
