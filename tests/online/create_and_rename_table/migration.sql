CREATE TABLE badges (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id integer NOT NULL REFERENCES users (id), name text NOT NULL);
CREATE INDEX idx_badges_user ON badges (user_id);
ALTER TABLE assessment_submissions RENAME TO submissions;
