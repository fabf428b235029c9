-- The settings `pitr check` and `pitr setup` judge: value and whether a change needs a restart.
SELECT name, setting, context
FROM pg_settings
WHERE name IN ('wal_level', 'archive_mode', 'archive_command', 'archive_library',
               'archive_timeout', 'server_version_num')
ORDER BY name;
