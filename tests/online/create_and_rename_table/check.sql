SELECT to_regclass('submissions') IS NOT NULL AND to_regclass('assessment_submissions') IS NULL;
SELECT count(*) = 2 FROM badges;
