DROP TRIGGER courses_set_updated_at ON courses;
CREATE TRIGGER courses_set_updated_at BEFORE UPDATE OF title ON courses
    FOR EACH ROW EXECUTE FUNCTION watoto_set_updated_at();
