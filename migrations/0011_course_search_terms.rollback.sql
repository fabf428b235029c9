DROP TRIGGER courses_sync_search_terms ON courses;
DROP FUNCTION watoto_courses_sync_search_terms();
DROP TABLE course_search_terms;
DROP FUNCTION watoto_lexeme_query(text);
