-- transactional: false
-- The safe rewrite.
-- expect: clean

CREATE UNIQUE INDEX CONCURRENTLY audit_log_pkey ON audit_log (id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_pkey PRIMARY KEY USING INDEX audit_log_pkey;
