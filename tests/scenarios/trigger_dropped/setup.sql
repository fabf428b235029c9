-- a row trigger on a partitioned table
DROP TRIGGER users_set_updated_at ON users;
