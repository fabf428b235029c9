SELECT count(*) FROM assessment_submissions;
INSERT INTO badges (id, user_id, name) OVERRIDING SYSTEM VALUE SELECT 90001, min(id), 'early' FROM users;
