ALTER TABLE assessment_submissions RENAME TO submissions;
