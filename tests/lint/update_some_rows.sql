-- An UPDATE with a WHERE clause (a bounded data fix).
-- expect: clean

UPDATE courses SET max_students = 60 WHERE id = 42;
