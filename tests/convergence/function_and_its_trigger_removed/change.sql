DROP TRIGGER users_keep_id ON users;
DROP FUNCTION watoto_users_keep_id();
