-- Renaming a table created earlier in the same migration breaks nothing.
-- expect: clean

CREATE TABLE draft (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);
ALTER TABLE draft RENAME TO drafts;
ALTER TABLE drafts RENAME COLUMN body TO content;
