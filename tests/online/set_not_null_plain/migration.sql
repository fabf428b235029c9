-- online: up coalesce(methodology, 'lecture')
ALTER TABLE courses ALTER COLUMN methodology SET NOT NULL;
