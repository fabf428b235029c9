CREATE TYPE level AS ENUM ('low', 'mid', 'high');
CREATE TABLE ratings (id int PRIMARY KEY, level level NOT NULL DEFAULT 'low', history level[]);
INSERT INTO ratings VALUES (1, 'mid', '{low,high}'), (2, 'high', NULL);
