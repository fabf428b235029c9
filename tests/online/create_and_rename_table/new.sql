SELECT count(*) FROM submissions;
INSERT INTO badges (id, user_id, name) OVERRIDING SYSTEM VALUE SELECT 90002, max(id), 'late' FROM users;
