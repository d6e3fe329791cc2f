-- The hub's core tables: people, devices, reference data, documents and the change log.
-- Times are milliseconds since the Unix epoch (bigint), as the storage trait has them.
-- Columns that lists sort or compare by range use the "C" collation: byte order, whatever the
-- database's default collation, as the SQLite backend sorts.

CREATE TABLE users (
    id            text NOT NULL CONSTRAINT users_pkey PRIMARY KEY,
    name          text COLLATE "C" NOT NULL CONSTRAINT users_name_key UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL,
    area          text NOT NULL,
    password_hash text,
    created_at    bigint NOT NULL
);

CREATE TABLE enrolment_codes (
    code_hash  text NOT NULL CONSTRAINT enrolment_codes_pkey PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id),
    expires_at bigint NOT NULL,
    used_at    bigint
);
CREATE INDEX enrolment_codes_user ON enrolment_codes (user_id);

CREATE TABLE devices (
    id          text NOT NULL CONSTRAINT devices_pkey PRIMARY KEY,
    device_no   bigint NOT NULL CONSTRAINT devices_device_no_key UNIQUE
                CHECK (device_no BETWEEN 1 AND 4294967295),
    user_id     text NOT NULL REFERENCES users (id),
    name        text NOT NULL,
    token_hash  text NOT NULL CONSTRAINT devices_token_hash_key UNIQUE,
    actor       text NOT NULL CONSTRAINT devices_actor_key UNIQUE,
    enrolled_at bigint NOT NULL,
    revoked_at  bigint
);
CREATE INDEX devices_user ON devices (user_id);

-- One row: the version of the reference data and its catalog and directory (JSON text).
CREATE TABLE reference (
    id        integer NOT NULL PRIMARY KEY CHECK (id = 1),
    version   bigint NOT NULL,
    catalog   text,
    directory text
);
INSERT INTO reference (id, version) VALUES (1, 0);

CREATE TABLE calendars (
    year     integer NOT NULL PRIMARY KEY,
    calendar text NOT NULL
);

CREATE TABLE documents (
    id            uuid NOT NULL PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('request', 'agenda')),
    village       text NOT NULL,
    township      text NOT NULL,
    resident_user text,
    snapshot      bytea NOT NULL,
    updated_at    bigint NOT NULL
);
-- Automerge compresses what it saves: storing it out of line without another compression
-- attempt costs nothing in size and saves the work.
ALTER TABLE documents ALTER COLUMN snapshot SET STORAGE EXTERNAL;

-- The change log. `seq` comes from a sequence with CACHE 1, so numbers increase in the order
-- they are taken across all sessions; the hub takes them only while it holds the change log's
-- advisory lock (see `commit_all`), which makes that order the order of the commits: a reader
-- that sees a number sees every smaller one. Numbers of rolled-back transactions are gaps.
CREATE TABLE change_log (
    seq           bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
    doc_id        uuid NOT NULL REFERENCES documents (id),
    hash          bytea NOT NULL CONSTRAINT change_log_hash_key UNIQUE,
    village       text NOT NULL,
    township      text NOT NULL,
    county        text NOT NULL,
    resident_user text,
    device_id     text NOT NULL,
    user_id       text NOT NULL,
    received_at   bigint NOT NULL,
    change        bytea NOT NULL
);
ALTER TABLE change_log ALTER COLUMN change SET STORAGE EXTERNAL;
CREATE INDEX change_log_village  ON change_log (village, seq);
CREATE INDEX change_log_township ON change_log (township, seq);
CREATE INDEX change_log_county   ON change_log (county, seq);
CREATE INDEX change_log_resident ON change_log (resident_user, seq);
CREATE INDEX change_log_doc      ON change_log (doc_id, seq);

-- The change log's identity (see `Storage::log_id`): 32 random hex digits.
CREATE TABLE hub_meta (
    key   text NOT NULL PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO hub_meta (key, value) VALUES ('log_id', replace(gen_random_uuid()::text, '-', ''));
