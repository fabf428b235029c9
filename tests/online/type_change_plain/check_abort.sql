SELECT total_points = 41 FROM assessments WHERE id = 90001;
SELECT total_points = 12 FROM assessments WHERE id = 90002;
SELECT format_type(atttypid, atttypmod) = 'integer' FROM pg_attribute WHERE attrelid = 'assessments'::regclass AND attname = 'total_points';
