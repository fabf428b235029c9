DROP COLLATION case_insensitive;
