-- A primary key added later in the same migration counts.
-- expect: clean

CREATE TABLE events (id bigint NOT NULL, kind text NOT NULL);
ALTER TABLE events ADD PRIMARY KEY (id);
