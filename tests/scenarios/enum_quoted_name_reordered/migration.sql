CREATE TYPE "Größe ""x""" AS ENUM ('S', 'M''s', 'L');
CREATE TABLE "Kleider ß" (id int, "die Größe" "Größe ""x""");
INSERT INTO "Kleider ß" VALUES (1, 'M''s'), (2, 'L');
