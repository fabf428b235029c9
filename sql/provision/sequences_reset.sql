-- Put back the sequences a test advanced (their recorded state as three arrays: oid,
-- last value or NULL when never used, start value); the others are not touched.
SELECT count(setval(s.oid, coalesce(s.last_value, s.start_value), s.last_value IS NOT NULL))
FROM unnest(%(oids)s::oid[], %(last_values)s::int8[], %(start_values)s::int8[])
     AS s(oid, last_value, start_value)
WHERE pg_sequence_last_value(s.oid) IS DISTINCT FROM s.last_value
