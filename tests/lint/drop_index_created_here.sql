-- An index created earlier in the same migration may be dropped plainly.
-- expect: clean

CREATE TABLE scratch (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
CREATE INDEX idx_scratch_v ON scratch (v);
DROP INDEX idx_scratch_v;
