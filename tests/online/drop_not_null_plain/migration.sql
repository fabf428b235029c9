-- online: down coalesce(sequence_order, 0)
ALTER TABLE course_modules ALTER COLUMN sequence_order DROP NOT NULL;
