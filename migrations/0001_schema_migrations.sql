-- lint: allow timestamp-without-time-zone (the seed's ledger keeps TIMESTAMP: decision 0002)
-- The seed's migration ledger: one row per applied version.
-- watoto-schema inserts and deletes the rows itself, in the same transaction as the
-- migration when the migration is transactional (docs/decisions/0003-schema-migrations-ledger.md).
CREATE TABLE schema_migrations (
    version VARCHAR(255) PRIMARY KEY,
    applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
