ALTER TABLE assessments ADD CONSTRAINT assessments_points_positive CHECK (total_points > 0);
