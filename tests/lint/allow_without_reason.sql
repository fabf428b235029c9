-- An allow must say why; it still suppresses, but is reported.
-- expect: bad-allow 4:27

TRUNCATE module_progress; -- lint: allow truncate
