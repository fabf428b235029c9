ALTER TABLE courses ADD COLUMN code varchar(20) UNIQUE, ADD COLUMN level integer NOT NULL DEFAULT 1, ADD COLUMN mentor_id integer REFERENCES users (id);
