ALTER POLICY assessments_graded ON assessments
    USING (is_graded AND total_points > 0);
