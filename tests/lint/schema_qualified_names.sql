-- public.users is users.
-- expect: index-not-concurrently 4:1

CREATE INDEX idx_users_last_login ON public.users (last_login);
