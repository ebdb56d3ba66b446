-- User e-mail addresses are unique among the users that are not deleted. A soft-deleted user
-- keeps its row (and its e-mail, for the audit trail) but no longer holds the address: a new
-- user may be given it. The index keeps the constraint's name, so a duplicate still reports
-- users_email_key. (An INSERT ... ON CONFLICT on email must now name the predicate:
-- ON CONFLICT (email) WHERE deleted_at IS NULL.)
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE deleted_at IS NULL;

-- GET /v1/users pages by (created_at, id), newest first.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);
