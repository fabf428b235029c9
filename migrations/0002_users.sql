-- depends: 0001_schema_migrations
-- lint: allow integer-id, timestamp-without-time-zone (the seed's SERIAL and TIMESTAMP: decision 0002)
-- users, hash-partitioned by id into 4 partitions (seed "Hash Partitioning").
-- Email uniqueness (case-insensitive) lives in the companion key table
-- user_email_keys, kept in the same transaction by a trigger
-- (docs/decisions/0001-partitioned-uniqueness.md).

CREATE FUNCTION watoto_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- An UPDATE that sets updated_at itself keeps its value; any other UPDATE stamps it.
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := CURRENT_TIMESTAMP;
    END IF;
    RETURN NEW;
END
$$;

CREATE TABLE users (
    id SERIAL,
    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    role VARCHAR(50) NOT NULL CHECK (role IN ('student', 'teacher', 'admin')),
    grade INTEGER CHECK (grade BETWEEN 7 AND 9),
    is_active BOOLEAN DEFAULT TRUE,
    last_login TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT users_pkey PRIMARY KEY (id)
) PARTITION BY HASH (id);

-- BEGIN GENERATED from sql/partitions.toml by `watoto-schema partitions render users`
CREATE TABLE "users_0" PARTITION OF "users"
    FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE "users_1" PARTITION OF "users"
    FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE "users_2" PARTITION OF "users"
    FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE "users_3" PARTITION OF "users"
    FOR VALUES WITH (MODULUS 4, REMAINDER 3);
-- END GENERATED

-- Lookups by email (login) use this index; uniqueness is user_email_keys' job.
CREATE INDEX idx_users_email ON users (email);
CREATE INDEX idx_users_role ON users (role);
CREATE INDEX idx_users_grade ON users (grade);
CREATE INDEX idx_users_active ON users (is_active);
CREATE INDEX idx_users_fts ON users USING gin (
    to_tsvector('english',
        coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, ''))
);

-- One row per user: the lower-cased email under a unique key. The constraint keeps the
-- seed's name (users_email_key) so applications that match on it keep working.
CREATE TABLE user_email_keys (
    email_key TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    CONSTRAINT users_email_key PRIMARY KEY (email_key),
    CONSTRAINT user_email_keys_user_id_key UNIQUE (user_id),
    CONSTRAINT user_email_keys_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE
);

CREATE FUNCTION watoto_users_sync_email_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_email_keys (email_key, user_id) VALUES (lower(NEW.email), NEW.id);
    ELSIF lower(NEW.email) IS DISTINCT FROM lower(OLD.email) THEN
        UPDATE user_email_keys SET email_key = lower(NEW.email) WHERE user_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION watoto_users_keep_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'users.id is immutable (user %)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Create a new user instead of renumbering one.';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_keep_id BEFORE UPDATE OF id ON users
    FOR EACH ROW EXECUTE FUNCTION watoto_users_keep_id();
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION watoto_set_updated_at();
CREATE TRIGGER users_sync_email_key AFTER INSERT OR UPDATE OF email ON users
    FOR EACH ROW EXECUTE FUNCTION watoto_users_sync_email_key();
