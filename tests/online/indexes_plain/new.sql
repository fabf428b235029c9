SELECT count(*) FROM courses WHERE duration = '6 weeks';
