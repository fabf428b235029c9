CREATE DOMAIN email AS text COLLATE "C" DEFAULT 'nobody@example.org' NOT NULL
    CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');
ALTER DOMAIN email ADD CONSTRAINT email_short CHECK (length(VALUE) < 200) NOT VALID;
