-- write: a student finishes the module in progress of one enrollment, and the
-- enrollment's progress moves (idx_progress_enrollment_status, the enrollments keys).
\set enrollment_id random(:enrollment_min, :enrollment_max)
\set minutes random(5, 40)
BEGIN;
UPDATE module_progress
   SET status = 'completed', completed_at = CURRENT_TIMESTAMP,
       time_spent_minutes = time_spent_minutes + :minutes
 WHERE enrollment_id = :enrollment_id AND status = 'in_progress';
UPDATE enrollments
   SET progress_percentage = least(100, progress_percentage + 10)
 WHERE id = :enrollment_id AND status IN ('enrolled', 'in_progress');
END;
