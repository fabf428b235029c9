DROP TYPE level;
