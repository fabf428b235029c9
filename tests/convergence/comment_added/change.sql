COMMENT ON TABLE courses IS 'The catalogue';
