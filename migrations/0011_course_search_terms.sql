-- depends: 0010_courses_listing_covering
-- Course search ranks its matches: ORDER BY ts_rank(search_vector, query) DESC, id LIMIT 20
-- must rank every course that contains the word. A topic word matches up to a twentieth of
-- the catalogue, 3,500 of 71,693 courses at national scale: 2,500 buffers and 13.6 ms a
-- search, 61% of the server's time under the load test (docs/decisions/0033). No index of
-- stock PostgreSQL returns tsvector matches in rank order, so this table is that index for
-- the search students type most, one word: a row per course and lexeme of its vector, with
-- the rank ts_rank gives that one-lexeme query. idx_course_search_terms_rank returns a
-- word's courses already in (rank DESC, course_id) order: the first 20 are the answer, the
-- same rows and ranks the full ranking gives. Searches of several words still rank their
-- (much smaller) set of matches in full (sql/app/course_search.sql).
--
-- The table is derived from courses.search_vector and kept in the same transaction by a
-- trigger, like user_email_keys and enrollment_keys. Creating the trigger takes SHARE ROW
-- EXCLUSIVE on courses until this migration commits: catalogue edits wait for the fill
-- (seconds at national scale), reads of courses go on.

-- The one-lexeme tsquery of a lexeme, quoted as tsquery input wants it (a quote or a
-- backslash doubled); E'' strings so that standard_conforming_strings does not matter.
CREATE FUNCTION watoto_lexeme_query(lexeme text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ('''' || replace(replace(lexeme, E'\\', E'\\\\'), '''', '''''') || '''')::tsquery
$$;

CREATE TABLE course_search_terms (
    course_id INTEGER NOT NULL,
    term TSQUERY NOT NULL,
    rank REAL NOT NULL,
    CONSTRAINT course_search_terms_pkey PRIMARY KEY (course_id, term),
    CONSTRAINT course_search_terms_course_id_fkey FOREIGN KEY (course_id)
        REFERENCES courses (id) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE FUNCTION watoto_courses_sync_search_terms() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.search_vector IS NOT DISTINCT FROM OLD.search_vector THEN
            RETURN NULL;
        END IF;
        DELETE FROM course_search_terms WHERE course_id = NEW.id;
    END IF;
    INSERT INTO course_search_terms (course_id, term, rank)
    SELECT NEW.id, q.term, ts_rank(NEW.search_vector, q.term)
      FROM unnest(NEW.search_vector) AS u,
           LATERAL watoto_lexeme_query(u.lexeme) AS q (term);
    RETURN NULL;
END
$$;

-- AFTER: the stored generated search_vector is computed by then.
CREATE TRIGGER courses_sync_search_terms AFTER INSERT OR UPDATE OF title, description
    ON courses FOR EACH ROW EXECUTE FUNCTION watoto_courses_sync_search_terms();

INSERT INTO course_search_terms (course_id, term, rank)
SELECT c.id, q.term, ts_rank(c.search_vector, q.term)
  FROM courses c,
       unnest(c.search_vector) AS u,
       LATERAL watoto_lexeme_query(u.lexeme) AS q (term);

CREATE INDEX idx_course_search_terms_rank ON course_search_terms (term, rank DESC, course_id);
ANALYZE course_search_terms;
