-- A table created earlier in the same migration.
-- expect: clean

CREATE TABLE staging (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
DROP TABLE staging;
