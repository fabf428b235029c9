ALTER TABLE courses DISABLE TRIGGER courses_set_updated_at;
