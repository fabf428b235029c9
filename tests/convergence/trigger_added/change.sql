CREATE TRIGGER modules_set_updated_at BEFORE UPDATE ON course_modules
    FOR EACH ROW EXECUTE FUNCTION watoto_set_updated_at();
