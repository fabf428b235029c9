ALTER TABLE user_email_keys DROP CONSTRAINT users_email_key;
