ALTER TABLE assessment_submissions SET UNLOGGED;
