ALTER DOMAIN percentage DROP CONSTRAINT percentage_range;
ALTER DOMAIN percentage ADD CONSTRAINT percentage_range CHECK (VALUE >= 0);
ALTER DOMAIN percentage SET DEFAULT 0;
