CREATE TYPE course_level AS ENUM ('beginner', 'intermediate', 'advanced');
CREATE FUNCTION level_of(p_grade integer) RETURNS course_level
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_grade WHEN 7 THEN 'beginner'::course_level
                        WHEN 8 THEN 'intermediate'::course_level
                        ELSE 'advanced'::course_level END
$$;
CREATE VIEW course_levels AS SELECT id, title, level_of(grade) AS level FROM courses;
CREATE VIEW advanced_courses AS SELECT id, title FROM course_levels WHERE level = 'advanced';
