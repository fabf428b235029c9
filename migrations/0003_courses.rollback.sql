DROP TABLE course_modules;
DROP TABLE courses;
