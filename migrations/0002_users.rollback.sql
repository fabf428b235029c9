DROP TABLE user_email_keys;
DROP TABLE users;
DROP FUNCTION watoto_users_keep_id();
DROP FUNCTION watoto_users_sync_email_key();
DROP FUNCTION watoto_set_updated_at();
