-- A table created earlier in the same migration is empty and unused: a plain build is fine.
-- expect: clean
-- expect-not: index-not-concurrently
-- expect-not: unindexed-foreign-key

CREATE TABLE badges (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    awarded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_badges_user ON badges (user_id);
