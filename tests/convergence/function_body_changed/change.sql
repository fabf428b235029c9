CREATE OR REPLACE FUNCTION watoto_users_keep_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'users.id never changes (user %)', OLD.id;
    END IF;
    RETURN NEW;
END
$$;
