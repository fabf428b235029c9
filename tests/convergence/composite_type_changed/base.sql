CREATE TYPE grade_range AS (low integer, high integer);
