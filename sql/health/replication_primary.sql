-- On a primary: each standby's lag in bytes (write, flush, replay) and seconds.
SELECT coalesce(nullif(application_name, ''), client_addr::text, 'standby') AS standby,
       state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn) AS write_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn) AS flush_bytes,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS replay_bytes,
       extract(epoch FROM write_lag) AS write_seconds,
       extract(epoch FROM flush_lag) AS flush_seconds,
       extract(epoch FROM replay_lag) AS replay_seconds
FROM pg_stat_replication
