-- What students type into course search: topic words of the course titles. Words in more
-- than a twentieth of the titles ("grade", a subject name) are left out: they match most
-- of the catalogue, and ranking the whole catalogue is another query (docs/loadtest.md).
SELECT word
  FROM (SELECT lower(w) AS word, count(*) AS n
          FROM courses, regexp_split_to_table(title, '[^[:alpha:]]+') AS w
         WHERE length(w) > 3
         GROUP BY 1) t
 WHERE n <= greatest(1, (SELECT count(*) FROM courses) / 20)
 ORDER BY n DESC, word
 LIMIT 60
