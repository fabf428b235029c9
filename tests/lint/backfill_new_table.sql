-- Filling a table created in the same migration is not a backfill of a live table.
-- expect: clean

CREATE TABLE grade_names (grade smallint PRIMARY KEY, name text NOT NULL);
INSERT INTO grade_names VALUES (7, 'Form 1'), (8, 'Form 2'), (9, 'Form 3');
UPDATE grade_names SET name = upper(name);
