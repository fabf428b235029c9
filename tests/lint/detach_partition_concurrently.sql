-- transactional: false
-- The safe rewrite (outside a transaction).
-- expect: clean

ALTER TABLE users DETACH PARTITION users_3 CONCURRENTLY;
