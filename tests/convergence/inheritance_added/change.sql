ALTER TABLE course_notes_archive INHERIT course_notes;
