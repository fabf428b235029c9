-- An inline REFERENCES checks every row under the table's lock.
-- expect: constraint-not-valid 5:1
-- expect: unindexed-foreign-key 5:1

ALTER TABLE assessments ADD COLUMN reviewer_id bigint REFERENCES users (id);
