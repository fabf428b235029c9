-- A unique index build blocks writes too.
-- expect: index-not-concurrently 4:1

CREATE UNIQUE INDEX idx_courses_title ON courses (title);
