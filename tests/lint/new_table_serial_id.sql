-- A serial id overflows at 2^31.
-- expect: integer-id 4:1

CREATE TABLE announcements (
    id serial PRIMARY KEY,
    body text NOT NULL
);
