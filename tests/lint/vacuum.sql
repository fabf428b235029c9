-- transactional: false
-- Plain VACUUM (outside a transaction) blocks nobody.
-- expect: clean

VACUUM (ANALYZE) courses;
