-- depends: 0004_enrollments
-- lint: allow integer-id, timestamp-without-time-zone (the seed's SERIAL and TIMESTAMP: decision 0002)
-- module_progress: a row per student per module. Its enrollment reference targets
-- enrollment_keys(id), which is unique across all enrollments partitions; deleting an
-- enrollment deletes its key row and, through this cascade, its progress rows.

CREATE TABLE module_progress (
    id SERIAL PRIMARY KEY,
    enrollment_id INTEGER NOT NULL
        REFERENCES enrollment_keys (id) ON DELETE CASCADE ON UPDATE CASCADE,
    module_id INTEGER NOT NULL REFERENCES course_modules (id),
    started_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMP,
    time_spent_minutes INTEGER DEFAULT 0,
    score DECIMAL(5,2),
    attempts INTEGER DEFAULT 1,
    status VARCHAR(50) DEFAULT 'not_started'
        CHECK (status IN ('not_started', 'in_progress', 'completed'))
);

CREATE UNIQUE INDEX idx_progress_enrollment_module ON module_progress (enrollment_id, module_id);
CREATE INDEX idx_progress_status ON module_progress (status);
CREATE INDEX idx_progress_enrollment_status ON module_progress (enrollment_id, status);
CREATE INDEX idx_progress_module ON module_progress (module_id);
