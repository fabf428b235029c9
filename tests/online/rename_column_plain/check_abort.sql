SELECT title = 'Old algebra, revised' FROM courses WHERE id = 90001;
SELECT title = 'New algebra' FROM courses WHERE id = 90002;
