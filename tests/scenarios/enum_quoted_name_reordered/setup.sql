ALTER TYPE "Größe ""x""" RENAME TO groesse_before;
CREATE TYPE "Größe ""x""" AS ENUM ('L', 'M''s', 'S');
ALTER TABLE "Kleider ß" ALTER COLUMN "die Größe" TYPE "Größe ""x""" USING "die Größe"::text::"Größe ""x""";
DROP TYPE groesse_before;
