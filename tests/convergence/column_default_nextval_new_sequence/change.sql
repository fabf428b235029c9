CREATE SEQUENCE assessment_points_seq;
ALTER TABLE assessments ALTER COLUMN total_points SET DEFAULT nextval('assessment_points_seq');
