-- timestamp without time zone.
-- expect: timestamp-without-time-zone 4:1

CREATE TABLE sessions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamp NOT NULL
);
