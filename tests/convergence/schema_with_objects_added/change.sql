CREATE SCHEMA reporting;
CREATE TABLE reporting.daily (day date PRIMARY KEY, enrollments integer NOT NULL);
CREATE VIEW reporting.latest AS SELECT day, enrollments FROM reporting.daily ORDER BY day DESC LIMIT 1;
