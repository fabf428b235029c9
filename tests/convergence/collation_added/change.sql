CREATE COLLATION case_insensitive
    (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
