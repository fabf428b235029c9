DROP TABLE assessment_submissions;
DROP TABLE assessments;
