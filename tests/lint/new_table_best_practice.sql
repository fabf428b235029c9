-- bigint identity key, timestamptz, indexed foreign keys.
-- expect: clean

CREATE TABLE announcements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id integer NOT NULL REFERENCES courses (id),
    author_id integer REFERENCES users (id),
    body text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_announcements_course ON announcements (course_id, published_at);
CREATE INDEX idx_announcements_author ON announcements (author_id);
