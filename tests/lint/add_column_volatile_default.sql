-- A volatile default is computed for every row: a rewrite.
-- expect: volatile-default 4:1

ALTER TABLE users ADD COLUMN api_token uuid DEFAULT gen_random_uuid();
