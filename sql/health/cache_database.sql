-- Buffer cache hit ratio of this database since the statistics were reset.
SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()
