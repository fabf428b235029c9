ALTER TABLE users DISABLE TRIGGER users_keep_id;
