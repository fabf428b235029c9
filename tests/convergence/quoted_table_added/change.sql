CREATE TABLE "Größe ""x"" table" (
    "Spalte Ä" integer PRIMARY KEY,
    "naïve col" text DEFAULT 'ü'
);
CREATE INDEX "idx Größe" ON "Größe ""x"" table" ("naïve col");
