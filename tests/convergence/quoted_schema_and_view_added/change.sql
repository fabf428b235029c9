CREATE SCHEMA "Bericht Ü";
CREATE VIEW "Bericht Ü"."Kurs ""Liste""" AS SELECT id, title FROM courses;
