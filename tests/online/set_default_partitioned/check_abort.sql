SELECT status = 'in_progress' FROM enrollments WHERE id = 90002;
SELECT pg_get_expr(adbin, adrelid) LIKE '''enrolled''%' FROM pg_attrdef WHERE adrelid = 'enrollments'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'enrollments'::regclass AND attname = 'status');
