CREATE DOMAIN email AS text COLLATE "C" DEFAULT 'nobody@example.org' NOT NULL
    CONSTRAINT email_has_at CHECK (VALUE LIKE '%@%');
CREATE TABLE contacts (id int PRIMARY KEY, address email);
INSERT INTO contacts VALUES (1, 'a@example.org');
