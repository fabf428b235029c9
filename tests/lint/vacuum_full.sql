-- transactional: false
-- VACUUM FULL rewrites the table under ACCESS EXCLUSIVE.
-- expect: vacuum-full 5:1

VACUUM FULL courses;
