ALTER TABLE course_audit NO INHERIT audit_base;
