-- SET UNLOGGED rewrites the table.
-- expect: rewrite-table 4:1

ALTER TABLE module_progress SET UNLOGGED;
