ALTER TABLE "Größe ""x"" table"
    ADD CONSTRAINT "Prüfung ""1""" CHECK ("Spalte Ä" > 0);
ALTER INDEX "idx Größe" RENAME TO "idx Größe 2";
ALTER TABLE "Größe ""x"" table" ALTER COLUMN "naïve col" SET DEFAULT 'ö';
