-- A lock mode that lets reads and writes go on.
-- expect: clean

LOCK TABLE courses IN SHARE UPDATE EXCLUSIVE MODE;
