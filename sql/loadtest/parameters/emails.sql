-- A sample of real students' emails for the login lookup (by primary key, cheap at any size).
SELECT email
  FROM users
 WHERE id = ANY (SELECT (%(lo)s + floor(random() * (%(hi)s - %(lo)s + 1)))::int
                   FROM generate_series(1, 400))
 LIMIT 200
