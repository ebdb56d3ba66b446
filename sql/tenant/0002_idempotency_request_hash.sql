-- The fingerprint of the request an Idempotency-Key was first used with: BLAKE2b-256 of the
-- method, the path and the body in canonical JSON (keys sorted, no whitespace). A later request
-- with the same key must match it, or it is refused (422).
ALTER TABLE idempotency_records ADD COLUMN request_hash text;
-- The transaction the key stands for.
ALTER TABLE idempotency_records ADD COLUMN transaction_id uuid;
