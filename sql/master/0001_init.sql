-- Master database: tenants, how to reach their databases, system administrators, and the
-- tenant audit trail. Models Tenant, SystemAdmin, TenantAuditLog of the source design
-- (sql/README.md maps every Prisma name to the SQL one).

CREATE TYPE tenant_status AS ENUM ('PENDING', 'ACTIVE', 'SUSPENDED', 'INACTIVE');
CREATE TYPE system_role AS ENUM ('SUPER_ADMIN', 'ADMIN', 'SUPPORT');

-- @updatedAt: every UPDATE stamps updated_at.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TABLE tenants (
    id                  uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text          NOT NULL,
    slug                text          NOT NULL,
    subdomain           text,
    -- Connection details. db_password holds base64(nonce || XChaCha20-Poly1305 ciphertext) of
    -- the password, sealed under the master key db_password_key_id with the tenant id as
    -- associated data; the key itself never enters a database.
    db_host             text          NOT NULL,
    db_port             integer       NOT NULL DEFAULT 5432,
    db_name             text          NOT NULL,
    db_user             text          NOT NULL,
    db_password         text          NOT NULL,
    db_password_key_id  text          NOT NULL,
    status              tenant_status NOT NULL DEFAULT 'PENDING',
    settings            jsonb,
    max_users           integer       NOT NULL DEFAULT 100,
    max_accounts        integer       NOT NULL DEFAULT 1000,
    subscription_tier   text          NOT NULL DEFAULT 'basic',
    created_at          timestamptz   NOT NULL DEFAULT now(),
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    created_by          text,
    CONSTRAINT tenants_slug_key UNIQUE (slug),
    CONSTRAINT tenants_subdomain_key UNIQUE (subdomain),
    CONSTRAINT tenants_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    CONSTRAINT tenants_db_port_range CHECK (db_port BETWEEN 1 AND 65535),
    CONSTRAINT tenants_limits_positive CHECK (max_users >= 0 AND max_accounts >= 0)
);
-- @@index([slug]) and @@index([subdomain]) are served by the unique constraints' indexes.
CREATE INDEX tenants_status_idx ON tenants (status);
CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE system_admins (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text        NOT NULL,
    password_hash  text        NOT NULL,
    first_name     text        NOT NULL,
    last_name      text        NOT NULL,
    role           system_role NOT NULL DEFAULT 'ADMIN',
    is_active      boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz,
    CONSTRAINT system_admins_email_key UNIQUE (email)
);
-- @@index([email]) is served by system_admins_email_key.
CREATE TRIGGER system_admins_updated_at BEFORE UPDATE ON system_admins
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE tenant_audit_logs (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL,
    action        text        NOT NULL,
    performed_by  text        NOT NULL,
    metadata      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_audit_logs_tenant_id_idx ON tenant_audit_logs (tenant_id);
CREATE INDEX tenant_audit_logs_created_at_idx ON tenant_audit_logs (created_at);

-- API keys of upstream systems (an addition to the source design). A key is shown once; only its
-- BLAKE2b hash is kept. A key belongs to one tenant and acts as one of that tenant's users.
CREATE TABLE api_keys (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    name          text        NOT NULL,
    key_prefix    text        NOT NULL,
    key_hash      text        NOT NULL,
    role          text        NOT NULL,
    user_id       uuid        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id);
