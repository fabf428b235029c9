-- loadtest --users (#21): put before each script's statements, a user's pause before acting.
-- The pause is uniform in [think_lo, think_lo + think_span) microseconds, drawn from a hash
-- of the client and its transaction count (watoto_tx, from -D watoto_tx=0, counts per
-- client: pgbench keeps a client's variables across its transactions). The same count is
-- the transaction number of pgbench's per-transaction log, so the analysis recomputes each
-- pause exactly and subtracts it from the logged latency, which includes the sleep.
-- The hash: Thomas Mueller's 32-bit integer hash (xor-shift-multiply, twice).
\set watoto_tx :watoto_tx + 1
\set watoto_think ((:client_id * 1000003) + (:watoto_tx * 7919)) & 4294967295
\set watoto_think (((:watoto_think >> 16) # :watoto_think) * 73244475) & 4294967295
\set watoto_think (((:watoto_think >> 16) # :watoto_think) * 73244475) & 4294967295
\set watoto_think {{ think_lo }} + (((:watoto_think >> 16) # :watoto_think) % {{ think_span }})
\sleep :watoto_think us
