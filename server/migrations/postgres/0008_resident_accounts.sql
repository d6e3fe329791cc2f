-- Resident accounts: a user may be deactivated (no sign-in; devices untouched), and a resident
-- activates their account with a one-time code whose hash is kept here, like enrolment codes
-- (see `Storage::activate_account`). A new code deletes the user's earlier unused one.

ALTER TABLE users ADD COLUMN deactivated_at bigint;

CREATE TABLE activation_codes (
    code_hash  text NOT NULL CONSTRAINT activation_codes_pkey PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id),
    issued_at  bigint NOT NULL,
    expires_at bigint NOT NULL,
    used_at    bigint
);
CREATE INDEX activation_codes_user ON activation_codes (user_id);
