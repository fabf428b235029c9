-- watoto-schema's own record of each applied migration, beside the seed's
-- schema_migrations: content checksums, who applied it, how long it took, and whether a
-- non-transactional migration is still running (or was interrupted).
CREATE TABLE IF NOT EXISTS watoto_migration_history (
    version TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('running', 'applied')),
    checksum TEXT NOT NULL,
    rollback_checksum TEXT,
    transactional BOOLEAN NOT NULL,
    statements_done INTEGER NOT NULL DEFAULT 0,
    applied_by TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    duration_ms INTEGER
)
