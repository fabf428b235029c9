CREATE COLLATION case_insensitive
    (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
ALTER TABLE course_modules ALTER COLUMN module_type TYPE varchar(50) COLLATE case_insensitive;
