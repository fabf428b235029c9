-- write: a student hands in an assessment.
\set assessment_id random(:assessment_min, :assessment_max)
\set student_id random(:student_min, :student_max)
INSERT INTO assessment_submissions (assessment_id, student_id, content, status)
VALUES (:assessment_id, :student_id, '{"answers": ["A", "C", "B", "D"]}', 'submitted');
