CREATE SEQUENCE certificate_numbers START 1000;
