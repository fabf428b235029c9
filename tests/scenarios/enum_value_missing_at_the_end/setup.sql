UPDATE ratings SET level = 'mid' WHERE level = 'high';
UPDATE ratings SET history = NULL;
ALTER TYPE level RENAME TO level_before;
CREATE TYPE level AS ENUM ('low', 'mid');
ALTER TABLE ratings ALTER COLUMN level DROP DEFAULT;
ALTER TABLE ratings ALTER COLUMN level TYPE level USING level::text::level;
ALTER TABLE ratings ALTER COLUMN level SET DEFAULT 'low';
ALTER TABLE ratings ALTER COLUMN history TYPE level[] USING history::text[]::level[];
DROP TYPE level_before;
