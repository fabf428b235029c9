DROP COLLATION case_insensitive;
CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level1', deterministic = false);
