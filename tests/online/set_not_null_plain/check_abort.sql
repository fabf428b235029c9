SELECT methodology IS NULL FROM courses WHERE id = 90001;
SELECT methodology = 'project' FROM courses WHERE id = 90002;
