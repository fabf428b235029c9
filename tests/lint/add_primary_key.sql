-- ADD PRIMARY KEY builds its index under ACCESS EXCLUSIVE (audit_log: a table from outside the migration set).
-- expect: unique-without-index 4:1

ALTER TABLE audit_log ADD PRIMARY KEY (id);
