-- Open311 API keys, each for one application in one township: the key's hash only (like
-- enrolment codes), and when it was revoked (see `Storage::add_open311_key`). The requests an
-- application filed name their key by its number, so a number is never given again.

CREATE TABLE open311_keys (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash   text NOT NULL CONSTRAINT open311_keys_key_hash UNIQUE,
    township   text NOT NULL,
    name       text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
);
