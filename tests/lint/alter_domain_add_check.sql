-- A domain CHECK checks every column of that type in every table.
-- expect: constraint-not-valid 4:1

ALTER DOMAIN watoto_email ADD CONSTRAINT watoto_email_has_at CHECK (VALUE LIKE '%@%');
