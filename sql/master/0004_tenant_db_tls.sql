-- TLS to each tenant's database, per tenant (so per server): libpq's sslmode and the file of
-- the root certificate(s) that verify the server (sslrootcert). NULL takes the process-wide
-- default (LEDGER_PG_SSLMODE / LEDGER_PG_SSLROOTCERT, else libpq's: sslmode prefer).
-- Provisioning copies both from the chosen server's admin conninfo; `ledgerctl tenant update
-- --db-sslmode M --db-sslrootcert FILE` changes them.
ALTER TABLE tenants ADD COLUMN db_sslmode text, ADD COLUMN db_sslrootcert text;
ALTER TABLE tenants ADD CONSTRAINT tenants_db_sslmode_known CHECK
    (db_sslmode IN ('disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'));
