CREATE FUNCTION public.student_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM users';
