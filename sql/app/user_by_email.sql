-- Login: a user by email, %(email)s. users is hash-partitioned by id, so a plain
-- `WHERE email = ...` probes idx_users_email on every partition. The key table
-- user_email_keys (one row per user, the lower-cased email under the unique key
-- users_email_key) gives the id first; `id = (SELECT ...)` then lets the executor prune
-- every partition but the one holding that id (docs/decisions/0026). The exact-case email
-- test keeps the rows of the plain lookup: an address typed in another case finds nothing.
SELECT u.id, u.password_hash, u.role, u.grade, u.is_active
FROM users u
WHERE u.id = (SELECT k.user_id FROM user_email_keys k WHERE k.email_key = lower(%(email)s))
  AND u.email = %(email)s
