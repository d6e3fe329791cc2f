-- Counters shared by every hub process on the schema (the console's sign-in throttle, the
-- public look-up's limiter; see `Storage::update_counters`): each key's state, encoded by its
-- owner, and when the row may be deleted. Keys are locked with advisory locks, not rows, so a
-- key without a row is locked as well as one with.

CREATE TABLE counters (
    key        text COLLATE "C" PRIMARY KEY,
    state      bytea NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX counters_expires ON counters (expires_at);
