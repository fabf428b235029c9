SET LOCAL session_replication_role = replica;
UPDATE courses SET methodology = coalesce(methodology, 'lecture') WHERE methodology IS NULL;
SET LOCAL session_replication_role = origin;
ALTER TABLE courses ALTER COLUMN methodology SET NOT NULL;
