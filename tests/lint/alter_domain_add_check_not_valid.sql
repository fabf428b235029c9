-- The safe rewrite.
-- expect: clean

ALTER DOMAIN watoto_email ADD CONSTRAINT watoto_email_has_at CHECK (VALUE LIKE '%@%') NOT VALID;
