-- A WHERE clause that selects every row is no WHERE clause.
-- expect: unbatched-backfill 4:1

UPDATE courses SET is_active = true WHERE true;
