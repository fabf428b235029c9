ALTER TABLE assessments RENAME COLUMN passing_score TO pass_mark;
