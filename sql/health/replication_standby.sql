-- On a standby: WAL received but not replayed, and how recently the stream spoke.
SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) AS replay_bytes,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp()) AS last_replay_seconds,
       (SELECT status FROM pg_stat_wal_receiver) AS receiver_status,
       (SELECT extract(epoch FROM now() - last_msg_receipt_time) FROM pg_stat_wal_receiver)
           AS receiver_silence_seconds
