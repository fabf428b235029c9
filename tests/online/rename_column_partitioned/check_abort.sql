SELECT notes = 'old note, seen' FROM enrollments WHERE id = 90001;
SELECT notes = 'new note' FROM enrollments WHERE id = 90002;
