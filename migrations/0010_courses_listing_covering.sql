-- depends: 0009_courses_listing_index
-- transactional: false
-- The catalogue page (sql/loadtest/course_listing.sql) reads id, title, methodology,
-- duration and max_students of 50 active courses of one grade and category, in title
-- order. idx_courses_listing (migration 0009) returns them in order, but each of the 50
-- rows is then read from the heap: 52 shared buffers a page at national scale (71,693
-- courses). This index carries the listed columns (INCLUDE), so the page is an index-only
-- scan of 5 buffers (docs/decisions/0028); courses is the catalogue, rarely written, so its
-- pages stay all-visible and need no heap fetch. Built concurrently: reads and writes go on.
-- idx_courses_listing stays for now (decision 0028 says why and when it can go).
CREATE INDEX CONCURRENTLY idx_courses_listing_covering ON courses (grade, category, title)
    INCLUDE (id, methodology, duration, max_students)
    WHERE is_active;
