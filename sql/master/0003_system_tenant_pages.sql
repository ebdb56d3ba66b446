-- The system plane's lists page by (created_at, id), newest first: the tenants, and one
-- tenant's audit log.
CREATE INDEX tenants_created_at_id_idx ON tenants (created_at DESC, id DESC);
CREATE INDEX tenant_audit_logs_tenant_created_idx
    ON tenant_audit_logs (tenant_id, created_at DESC, id DESC);
