-- Forget what pg_stat_statements gathered, so a step's top statements are its own.
-- The braces name the extension's schema, quoted by psycopg. Needs superuser or an explicit grant.
SELECT {}.pg_stat_statements_reset();
