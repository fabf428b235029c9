DROP TRIGGER courses_set_updated_at ON courses;
