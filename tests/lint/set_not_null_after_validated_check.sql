-- transactional: false
-- The safe rewrite: a validated CHECK (col IS NOT NULL) lets SET NOT NULL skip the scan.
-- expect: clean

ALTER TABLE courses ADD CONSTRAINT courses_methodology_not_null CHECK (methodology IS NOT NULL) NOT VALID;
ALTER TABLE courses VALIDATE CONSTRAINT courses_methodology_not_null;
ALTER TABLE courses ALTER COLUMN methodology SET NOT NULL;
