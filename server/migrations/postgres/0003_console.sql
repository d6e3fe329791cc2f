-- The console: sessions kept across restarts (by the hash of their id), and the reveals of
-- masked values (who, when, which request and field; never the value).

CREATE TABLE console_sessions (
    key        text NOT NULL PRIMARY KEY,
    user_id    text NOT NULL,
    csrf       text NOT NULL,
    created_at bigint NOT NULL,
    seen_at    bigint NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);

CREATE TABLE reveal_log (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id  uuid NOT NULL,
    user_id text NOT NULL,
    field   text NOT NULL,
    at      bigint NOT NULL
);
CREATE INDEX reveal_log_doc ON reveal_log (doc_id, seq);
