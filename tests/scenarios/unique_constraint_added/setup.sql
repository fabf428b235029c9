ALTER TABLE courses ADD CONSTRAINT courses_title_key UNIQUE (title);
