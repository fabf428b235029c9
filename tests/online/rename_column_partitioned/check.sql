SELECT remarks = 'old note, seen' FROM enrollments WHERE id = 90001;
SELECT remarks = 'new note' FROM enrollments WHERE id = 90002;
SELECT count(*) = 2 FROM enrollment_keys WHERE id IN (90001, 90002);
