-- Dropping an existing function breaks its callers (here: a trigger).
-- expect: drop-object 4:1

DROP FUNCTION watoto_set_updated_at() CASCADE;
