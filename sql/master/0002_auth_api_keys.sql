-- GET /v1/api-keys: a tenant's keys newest first, paged by (created_at, id).
CREATE INDEX api_keys_tenant_created_idx ON api_keys (tenant_id, created_at DESC, id DESC);

-- System administrators log in by e-mail whatever its case; two admins cannot differ by case
-- alone.
CREATE UNIQUE INDEX system_admins_email_lower_key ON system_admins (lower(email));
