ALTER TABLE users ADD COLUMN school_year INTEGER CHECK (school_year BETWEEN 7 AND 9);
