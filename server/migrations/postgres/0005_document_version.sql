-- Each document's version, one more with each commit that stores it: a commit checked against
-- a version another hub process moved on meanwhile is refused, and nothing of its transaction
-- is stored (see `Storage::commit_checked`). Documents stored before count as version 1.

ALTER TABLE documents ADD COLUMN version bigint NOT NULL DEFAULT 1;
