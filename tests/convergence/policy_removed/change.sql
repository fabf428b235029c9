DROP POLICY assessments_graded ON assessments;
