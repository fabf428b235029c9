DROP TABLE assessment_submissions;
