DROP INDEX idx_progress_enrollment_module;
CREATE INDEX idx_progress_enrollment_module ON module_progress (enrollment_id, module_id);
