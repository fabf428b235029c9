SELECT name = 'Old algebra, revised' FROM courses WHERE id = 90001;
SELECT search_vector @@ to_tsquery('english', 'revised') FROM courses WHERE id = 90001;
SELECT name = 'New algebra' FROM courses WHERE id = 90002;
