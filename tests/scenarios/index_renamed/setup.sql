ALTER INDEX idx_assessments_type RENAME TO assessments_type_idx;
