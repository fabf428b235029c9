SELECT count(*) FROM users WHERE last_name = 'Otieno';
