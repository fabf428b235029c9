ALTER TABLE course_audit INHERIT audit_base;
