-- The applicant's name in the request index, for the console's search (lists keep showing
-- applicant_masked). NULL in the entries written before: `document_ids` counts them as
-- unindexed, so the maintenance writes them again, name included.

ALTER TABLE request_index ADD COLUMN applicant_name text;
