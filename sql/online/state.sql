-- The online (expand/contract) migration engine's own state: one row per migration that
-- is expanding, active, completing or aborting, with its whole plan, so that any run,
-- after a kill -9 or on another machine, carries on from the step recorded here.
CREATE TABLE IF NOT EXISTS watoto_online_migration (
    version TEXT PRIMARY KEY,
    phase TEXT NOT NULL CHECK (phase IN ('expanding', 'active', 'completing', 'aborting')),
    step INTEGER NOT NULL DEFAULT 0,
    plan JSONB NOT NULL,
    checksum TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    phase_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Backfill progress per table (per leaf partition of a partitioned table): the last
-- primary key done, so a killed backfill resumes after it.
CREATE TABLE IF NOT EXISTS watoto_online_backfill (
    version TEXT NOT NULL,
    relation TEXT NOT NULL,
    last_key TEXT[],
    rows_done BIGINT NOT NULL DEFAULT 0,
    rows_total BIGINT NOT NULL DEFAULT 0,
    done BOOLEAN NOT NULL DEFAULT false,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (version, relation)
)
