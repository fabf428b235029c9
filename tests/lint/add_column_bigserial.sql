-- A serial column fills every existing row from its sequence.
-- expect: volatile-default 4:1

ALTER TABLE courses ADD COLUMN position bigserial;
