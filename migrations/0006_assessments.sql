-- depends: 0005_module_progress
-- lint: allow integer-id, timestamp-without-time-zone (the seed's SERIAL and TIMESTAMP: decision 0002)
-- assessments and assessment_submissions (seed "Core Tables"), every foreign key indexed.

CREATE TABLE assessments (
    id SERIAL PRIMARY KEY,
    course_id INTEGER NOT NULL REFERENCES courses (id),
    module_id INTEGER REFERENCES course_modules (id),
    title VARCHAR(255) NOT NULL,
    description TEXT,
    assessment_type VARCHAR(50) NOT NULL, -- 'quiz', 'assignment', 'project'
    total_points INTEGER NOT NULL,
    passing_score INTEGER,
    time_limit_minutes INTEGER,
    is_graded BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_assessments_course ON assessments (course_id);
CREATE INDEX idx_assessments_type ON assessments (assessment_type);
CREATE INDEX idx_assessments_module ON assessments (module_id);

CREATE TABLE assessment_submissions (
    id SERIAL PRIMARY KEY,
    assessment_id INTEGER NOT NULL REFERENCES assessments (id),
    student_id INTEGER NOT NULL REFERENCES users (id),
    submitted_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    content TEXT, -- JSON for quiz answers or file URL for assignments
    file_url VARCHAR(500),
    score DECIMAL(5,2),
    feedback TEXT,
    graded_by INTEGER REFERENCES users (id),
    graded_at TIMESTAMP,
    status VARCHAR(50) DEFAULT 'submitted' CHECK (status IN ('submitted', 'graded', 'returned'))
);

CREATE INDEX idx_submissions_assessment ON assessment_submissions (assessment_id);
CREATE INDEX idx_submissions_student ON assessment_submissions (student_id);
CREATE INDEX idx_submissions_status ON assessment_submissions (status);
CREATE INDEX idx_submissions_graded_by ON assessment_submissions (graded_by);
