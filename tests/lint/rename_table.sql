-- Renaming a table breaks the running application's queries.
-- expect: rename-table 4:1

ALTER TABLE assessments RENAME TO quizzes;
