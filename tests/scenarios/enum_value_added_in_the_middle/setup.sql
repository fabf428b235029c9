ALTER TYPE level ADD VALUE 'fair' BEFORE 'mid';
