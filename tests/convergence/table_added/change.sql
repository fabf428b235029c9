CREATE TABLE notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_id integer NOT NULL REFERENCES courses (id),
    body text NOT NULL,
    created_at timestamptz DEFAULT now()
);
CREATE INDEX idx_notes_course ON notes (course_id);
