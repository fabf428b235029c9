ALTER TYPE level ADD VALUE 'extreme';
