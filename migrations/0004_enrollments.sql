-- depends: 0003_courses
-- lint: allow integer-id, timestamp-without-time-zone (the seed's SERIAL and TIMESTAMP: decision 0002)
-- enrollments, range-partitioned by enrolled_at: one partition per year plus DEFAULT,
-- so no insert ever fails for lack of a partition (seed "Time-Based Partitioning").
-- One enrollment per (student, course) and a globally unique id live in the companion
-- key table enrollment_keys (docs/decisions/0001-partitioned-uniqueness.md).

CREATE TABLE enrollments (
    id SERIAL,
    student_id INTEGER NOT NULL REFERENCES users (id),
    course_id INTEGER NOT NULL REFERENCES courses (id),
    enrolled_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    completed_at TIMESTAMP,
    progress_percentage DECIMAL(5,2) DEFAULT 0.00,
    current_module_id INTEGER REFERENCES course_modules (id),
    status VARCHAR(50) DEFAULT 'enrolled'
        CHECK (status IN ('enrolled', 'in_progress', 'completed', 'dropped')),
    grade VARCHAR(5), -- A, B, C, D, F
    notes TEXT,
    CONSTRAINT enrollments_pkey PRIMARY KEY (id, enrolled_at)
) PARTITION BY RANGE (enrolled_at);

-- BEGIN GENERATED from sql/partitions.toml by `watoto-schema partitions render enrollments`
CREATE TABLE "enrollments_2024" PARTITION OF "enrollments"
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE "enrollments_2025" PARTITION OF "enrollments"
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE "enrollments_2026" PARTITION OF "enrollments"
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE "enrollments_2027" PARTITION OF "enrollments"
    FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
CREATE TABLE "enrollments_default" PARTITION OF "enrollments" DEFAULT;
-- END GENERATED

CREATE INDEX idx_enrollments_course ON enrollments (course_id);
CREATE INDEX idx_enrollments_status ON enrollments (status);
CREATE INDEX idx_enrollments_progress ON enrollments (progress_percentage);
CREATE INDEX idx_enrollments_student_status ON enrollments (student_id, status);
CREATE INDEX idx_enrollments_current_module ON enrollments (current_module_id);

-- One row per enrollment. Its unique constraints hold across all partitions; the
-- (student_id, course_id) one keeps the seed's index name. The foreign key back to
-- enrollments removes the row with its enrollment and follows key updates.
CREATE TABLE enrollment_keys (
    id INTEGER NOT NULL,
    student_id INTEGER NOT NULL,
    course_id INTEGER NOT NULL,
    enrolled_at TIMESTAMP NOT NULL,
    CONSTRAINT enrollment_keys_pkey PRIMARY KEY (id),
    CONSTRAINT idx_enrollments_student_course UNIQUE (student_id, course_id),
    CONSTRAINT enrollment_keys_enrollment_fkey FOREIGN KEY (id, enrolled_at)
        REFERENCES enrollments (id, enrolled_at) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE FUNCTION watoto_enrollments_sync_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    existing enrollment_keys%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        UPDATE enrollment_keys
           SET student_id = NEW.student_id, course_id = NEW.course_id
         WHERE id = NEW.id;
        RETURN NULL;
    END IF;
    -- The common case, a new enrollment: one index insert per key. A concurrent inserter
    -- of the same key makes this wait for its outcome, as a unique constraint would.
    INSERT INTO enrollment_keys (id, student_id, course_id, enrolled_at)
    VALUES (NEW.id, NEW.student_id, NEW.course_id, NEW.enrolled_at)
    ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    -- A key exists. An UPDATE that moved this row to another partition arrives here as an
    -- INSERT, and its key row still names the old (id, enrolled_at), which no longer
    -- exists: re-point it (UPDATE, never DELETE, which would cascade to module_progress).
    UPDATE enrollment_keys k
       SET id = NEW.id, student_id = NEW.student_id, course_id = NEW.course_id,
           enrolled_at = NEW.enrolled_at
     WHERE (k.id = NEW.id OR (k.student_id = NEW.student_id AND k.course_id = NEW.course_id))
       AND NOT EXISTS (SELECT 1 FROM enrollments e
                        WHERE e.id = k.id AND e.enrolled_at = k.enrolled_at);
    IF FOUND THEN
        RETURN NULL;
    END IF;
    -- The foreign key's ON UPDATE CASCADE may already have re-pointed it.
    SELECT * INTO existing FROM enrollment_keys WHERE id = NEW.id;
    IF FOUND AND existing.enrolled_at = NEW.enrolled_at
       AND existing.student_id = NEW.student_id AND existing.course_id = NEW.course_id THEN
        RETURN NULL;
    END IF;
    -- A real duplicate: report it as the unique constraint would.
    IF EXISTS (SELECT 1 FROM enrollment_keys
                WHERE student_id = NEW.student_id AND course_id = NEW.course_id) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "idx_enrollments_student_course"'
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Key (student_id, course_id)=(%s, %s) already exists.',
                                  NEW.student_id, NEW.course_id),
                  CONSTRAINT = 'idx_enrollments_student_course',
                  TABLE = 'enrollment_keys';
    END IF;
    RAISE EXCEPTION 'duplicate key value violates unique constraint "enrollment_keys_pkey"'
        USING ERRCODE = 'unique_violation',
              DETAIL = format('Key (id)=(%s) already exists.', NEW.id),
              CONSTRAINT = 'enrollment_keys_pkey',
              TABLE = 'enrollment_keys';
END
$$;

CREATE TRIGGER enrollments_sync_keys AFTER INSERT OR UPDATE OF student_id, course_id
    ON enrollments FOR EACH ROW EXECUTE FUNCTION watoto_enrollments_sync_keys();
