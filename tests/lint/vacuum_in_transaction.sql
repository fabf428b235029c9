-- VACUUM cannot run inside a transaction block.
-- expect: cannot-run-in-transaction 4:1

VACUUM courses;
