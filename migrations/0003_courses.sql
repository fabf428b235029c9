-- depends: 0002_users
-- lint: allow integer-id, timestamp-without-time-zone (the seed's SERIAL and TIMESTAMP: decision 0002)
-- courses and course_modules (seed "Core Tables"), with the NULL-safe GIN full-text index.

CREATE TABLE courses (
    id SERIAL PRIMARY KEY,
    title VARCHAR(255) NOT NULL,
    description TEXT,
    instructor_id INTEGER NOT NULL REFERENCES users (id),
    grade INTEGER NOT NULL CHECK (grade BETWEEN 7 AND 9),
    category VARCHAR(100) NOT NULL,
    methodology VARCHAR(100),
    duration VARCHAR(100),
    is_active BOOLEAN DEFAULT TRUE,
    max_students INTEGER DEFAULT 50,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_courses_instructor ON courses (instructor_id);
CREATE INDEX idx_courses_grade ON courses (grade);
CREATE INDEX idx_courses_category ON courses (category);
CREATE INDEX idx_courses_active ON courses (is_active);
CREATE INDEX idx_courses_grade_category ON courses (grade, category);
-- The seed's idx_courses_search and idx_courses_fts are the same index; this is it.
CREATE INDEX idx_courses_fts ON courses USING gin (
    to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, ''))
);

CREATE TRIGGER courses_set_updated_at BEFORE UPDATE ON courses
    FOR EACH ROW EXECUTE FUNCTION watoto_set_updated_at();

CREATE TABLE course_modules (
    id SERIAL PRIMARY KEY,
    course_id INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    title VARCHAR(255) NOT NULL,
    description TEXT,
    module_type VARCHAR(50) NOT NULL, -- 'video', 'quiz', 'assignment', 'reading'
    content_url VARCHAR(500),
    content_text TEXT,
    duration_minutes INTEGER,
    is_required BOOLEAN DEFAULT TRUE,
    sequence_order INTEGER NOT NULL,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_modules_course ON course_modules (course_id);
CREATE INDEX idx_modules_type ON course_modules (module_type);
CREATE INDEX idx_modules_order ON course_modules (course_id, sequence_order);
