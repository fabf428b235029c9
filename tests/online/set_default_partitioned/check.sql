SELECT status = 'enrolled' FROM enrollments WHERE id = 90001;
SELECT status = 'in_progress' FROM enrollments WHERE id = 90002;
SELECT pg_get_expr(adbin, adrelid) LIKE '''in_progress''%' FROM pg_attrdef WHERE adrelid = 'enrollments'::regclass AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'enrollments'::regclass AND attname = 'status');
