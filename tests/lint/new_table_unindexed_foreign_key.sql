-- A foreign key no index leads with: deletes of users scan this table.
-- expect: unindexed-foreign-key 4:1

CREATE TABLE follows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    follower_id integer NOT NULL REFERENCES users (id),
    followed_id integer NOT NULL REFERENCES users (id),
    UNIQUE (follower_id, followed_id)
);
