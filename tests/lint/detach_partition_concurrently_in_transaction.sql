-- DETACH ... CONCURRENTLY cannot run in a transaction block.
-- expect: cannot-run-in-transaction 4:1

ALTER TABLE users DETACH PARTITION users_3 CONCURRENTLY;
