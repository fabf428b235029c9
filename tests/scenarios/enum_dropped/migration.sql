CREATE TYPE level AS ENUM ('low', 'mid', 'high');
