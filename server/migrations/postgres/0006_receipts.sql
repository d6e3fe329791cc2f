-- Each receipt number's request, claimed in the transaction that stores the request: two hub
-- processes storing one number for two new requests cannot both commit (the second waits for
-- the first's row and then fails with a conflict; see `Storage::commit_checked`). Requests
-- stored before keep the first filed of a number.

CREATE TABLE receipts (
    receipt_no text COLLATE "C" PRIMARY KEY,
    doc_id     uuid NOT NULL
);

INSERT INTO receipts (receipt_no, doc_id)
    SELECT DISTINCT ON (receipt_no) receipt_no, id
    FROM request_index
    ORDER BY receipt_no, filed_at, id;
