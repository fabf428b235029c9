SELECT methodology = 'lecture' AND title = 'Old, renamed' FROM courses WHERE id = 90001;
SELECT methodology IS NULL FROM courses WHERE id = 90002;
