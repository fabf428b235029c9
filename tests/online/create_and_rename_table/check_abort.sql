SELECT to_regclass('submissions') IS NULL AND to_regclass('assessment_submissions') IS NOT NULL;
SELECT to_regclass('badges') IS NULL;
