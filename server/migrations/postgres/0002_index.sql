-- The index of documents for the console, the dashboard and the public pages: derived from
-- each document at commit (the tablet's list row, plus what the dashboard counts), rewritten
-- when the calendar changes. Deadlines are dates; '9999-12-31' stands for "none" so that the
-- deadline order puts those last.

CREATE TABLE request_index (
    id               uuid NOT NULL PRIMARY KEY REFERENCES documents (id),
    receipt_no       text COLLATE "C" NOT NULL,
    item_code        text COLLATE "C" NOT NULL,
    village          text COLLATE "C" NOT NULL,
    township         text COLLATE "C" NOT NULL,
    county           text COLLATE "C" NOT NULL,
    grid             text COLLATE "C" NOT NULL,
    resident_user    text,
    applicant_masked text NOT NULL,
    status           text COLLATE "C" NOT NULL,
    conflict         boolean NOT NULL,
    clock            text NOT NULL,
    due_date         date NOT NULL,
    filed_at         bigint NOT NULL,
    updated_at       bigint NOT NULL,
    decided_on       date,
    on_time          boolean,
    working_days     integer,
    rating           text COLLATE "C"
);
CREATE INDEX request_index_township ON request_index (township, due_date, receipt_no);
CREATE INDEX request_index_village  ON request_index (village, due_date, receipt_no);
CREATE INDEX request_index_county   ON request_index (county, due_date, receipt_no);
CREATE INDEX request_index_resident ON request_index (resident_user, due_date);
-- Look-up by receipt number. Not unique: forged copies must stay readable.
CREATE INDEX request_index_receipt  ON request_index (receipt_no);

CREATE TABLE agenda_index (
    id         uuid NOT NULL PRIMARY KEY REFERENCES documents (id),
    village    text NOT NULL,
    township   text NOT NULL,
    county     text NOT NULL,
    title      text NOT NULL,
    category   text NOT NULL,
    stage      text NOT NULL,
    conflict   boolean NOT NULL,
    updated_at bigint NOT NULL
);
CREATE INDEX agenda_index_village  ON agenda_index (village, updated_at);
CREATE INDEX agenda_index_township ON agenda_index (township, updated_at);
CREATE INDEX agenda_index_county   ON agenda_index (county, updated_at);

-- Which requests refer to which blobs (attachments), for the blob endpoints' read checks,
-- written with the index.
CREATE TABLE blob_refs (
    sha256     text NOT NULL,
    doc_id     uuid NOT NULL REFERENCES documents (id),
    size       bigint NOT NULL,
    media_type text NOT NULL,
    PRIMARY KEY (sha256, doc_id)
);
