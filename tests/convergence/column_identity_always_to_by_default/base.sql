CREATE TABLE badges (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    rank integer NOT NULL DEFAULT 0
);
