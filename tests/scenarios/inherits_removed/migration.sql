CREATE TABLE audit_base (at timestamptz NOT NULL DEFAULT now(), actor text);
CREATE TABLE course_audit (course_id int) INHERITS (audit_base);
