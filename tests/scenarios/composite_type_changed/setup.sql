ALTER TYPE address DROP ATTRIBUTE zip, ADD ATTRIBUTE country text, ADD ATTRIBUTE zip varchar(12);
