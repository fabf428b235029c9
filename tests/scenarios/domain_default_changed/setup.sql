ALTER DOMAIN email SET DEFAULT 'someone@example.org';
