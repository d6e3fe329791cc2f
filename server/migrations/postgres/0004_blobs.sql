-- Attachment bytes (see `server/src/blobs/postgres.rs`), shared by every hub on the schema.
--
-- An upload takes a number when its first chunk arrives; its bytes are rows of `blob_chunks`
-- under that number, each row at most 256 KiB and keyed by the position of its first byte.
-- While the upload is under way, `blob_partials` holds the number, how many bytes arrived and
-- when the last chunk did (the database's clock, so that every hub measures idleness alike).
-- Finishing hands the number over to `blobs`: the bytes stay where they are.

CREATE TABLE blob_partials (
    sha256     text COLLATE "C" NOT NULL CONSTRAINT blob_partials_pkey PRIMARY KEY,
    upload     bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT blob_partials_upload_key UNIQUE,
    received   bigint NOT NULL CHECK (received >= 0),
    touched_at timestamptz NOT NULL
);
CREATE INDEX blob_partials_touched ON blob_partials (touched_at);

CREATE TABLE blobs (
    sha256 text COLLATE "C" NOT NULL CONSTRAINT blobs_pkey PRIMARY KEY,
    upload bigint NOT NULL CONSTRAINT blobs_upload_key UNIQUE,
    len    bigint NOT NULL CHECK (len >= 0)
);

CREATE TABLE blob_chunks (
    upload bigint NOT NULL,
    start  bigint NOT NULL CHECK (start >= 0),
    bytes  bytea NOT NULL CHECK (octet_length(bytes) > 0),
    CONSTRAINT blob_chunks_pkey PRIMARY KEY (upload, start)
);
-- Photos and scans are compressed already: store them out of line without trying again.
ALTER TABLE blob_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
