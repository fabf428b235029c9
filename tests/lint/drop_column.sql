-- Dropping a column loses data and breaks the running application.
-- expect: drop-column 4:1

ALTER TABLE courses DROP COLUMN duration;
