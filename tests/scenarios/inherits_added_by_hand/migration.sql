CREATE TABLE audit_base (at timestamptz NOT NULL DEFAULT now(), actor text);
CREATE TABLE course_audit (at timestamptz NOT NULL DEFAULT now(), actor text, course_id int);
