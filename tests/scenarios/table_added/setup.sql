CREATE TABLE scratchpad (id int PRIMARY KEY, note text);
