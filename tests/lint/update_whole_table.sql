-- One UPDATE of every row locks them all until commit.
-- expect: unbatched-backfill 4:1

UPDATE courses SET max_students = 60;
