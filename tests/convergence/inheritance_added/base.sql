CREATE TABLE course_notes (course_id integer, body text);
CREATE TABLE course_notes_archive (course_id integer, body text);
