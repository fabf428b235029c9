-- read: the login lookup (sql/app/user_by_email.sql): the key table user_email_keys gives
-- the id, and only the users partition holding it is read (docs/decisions/0026).
-- The emails are a sample of the loaded ones.
\set email random(1, {{ emails | length }})
SELECT u.id, u.password_hash, u.role, u.grade, u.is_active
FROM users u
WHERE u.id = (SELECT k.user_id FROM user_email_keys k
               WHERE k.email_key = lower(({{ emails | sql_array }})[:email]))
  AND u.email = ({{ emails | sql_array }})[:email];
