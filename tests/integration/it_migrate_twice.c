/*
 * `ledgerctl migrate` applies the master's and every ACTIVE tenant's migrations, and applying
 * twice is a no-op. The migrated databases hold every table, enum and index of the source design.
 */
#include "itest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tenant_tables[] = {"users", "customers", "accounts", "transactions",
                                            "ledger_entries", "idempotency_records", "audit_logs",
                                            NULL};
static const char *const tenant_enums[] = {
    "user_role", "user_status", "customer_type", "gender", "kyc_status", "risk_level",
    "account_type", "account_status", "transaction_type", "transaction_status", "entry_type",
    NULL};
/* Section 4 of the design by name, plus the @@index and @unique of every model. */
static const char *const tenant_indexes[] = {
    "idx_users_email", "idx_accounts_customer_id", "idx_transactions_created_at",
    "idx_ledger_account_created", "idx_transactions_account_status",
    "idx_accounts_customer_status", "unique_account_number", "unique_transaction_ref",
    "unique_idempotency_key", "users_email_key", "users_role_idx", "users_status_idx",
    "customers_user_id_key", "customers_customer_number_key", "customers_kyc_status_idx",
    "accounts_status_idx", "accounts_account_type_idx", "transactions_status_idx",
    "transactions_from_account_id_idx", "transactions_to_account_id_idx",
    "transactions_batch_id_idx", "ledger_entries_transaction_id_idx",
    "ledger_entries_account_id_idx", "ledger_entries_created_at_idx",
    "ledger_entries_account_code_idx", "idempotency_records_idempotency_key_key",
    "idempotency_records_expires_at_idx", "audit_logs_user_id_idx", "audit_logs_action_idx",
    "audit_logs_resource_idx", "audit_logs_created_at_idx", NULL};
static const char *const master_tables[] = {"tenants", "system_admins", "tenant_audit_logs",
                                            NULL};
static const char *const master_enums[] = {"tenant_status", "system_role", NULL};
static const char *const master_indexes[] = {
    "tenants_slug_key", "tenants_subdomain_key", "tenants_status_idx", "system_admins_email_key",
    "tenant_audit_logs_tenant_id_idx", "tenant_audit_logs_created_at_idx", NULL};

static void expect_objects(PGconn *db, const char *sql, const char *const *names,
                           const char *what)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        char *v = itest_sql_value(db, sql, names[i]);
        CHECK(strcmp(v, "1") == 0, "%s %s is missing", what, names[i]);
        free(v);
    }
}

static void expect_schema(PGconn *db, const char *const *tables, const char *const *enums,
                          const char *const *indexes)
{
    expect_objects(db,
                   "SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'"
                   " AND tablename = $1",
                   tables, "table");
    expect_objects(db, "SELECT count(*)::text FROM pg_type WHERE typtype = 'e' AND typname = $1",
                   enums, "enum");
    expect_objects(db,
                   "SELECT count(*)::text FROM pg_indexes WHERE schemaname = 'public'"
                   " AND indexname = $1",
                   indexes, "index");
}

int main(void)
{
    itest_tenant t;
    PGconn *master, *db;
    char *before_master, *before_tenant, *after_master, *after_tenant, *v;
    int rc;

    itest_tenant_create(&t, "it-migrate", NULL, 0, "USD");
    master = itest_master_db();
    db = itest_tenant_db(&t, NULL);

    rc = itest_ledgerctl(NULL, 0, "migrate", NULL);
    CHECK(rc == 0, "first migrate exited %d", rc);
    before_master = itest_sql_value(master,
                                    "SELECT string_agg(version || checksum || applied_at, ',' "
                                    "ORDER BY version) FROM schema_migrations",
                                    NULL);
    before_tenant = itest_sql_value(db,
                                    "SELECT string_agg(version || checksum || applied_at, ',' "
                                    "ORDER BY version) FROM schema_migrations",
                                    NULL);
    CHECK(strlen(before_master) > 0 && strlen(before_tenant) > 0, "no migrations recorded");

    rc = itest_ledgerctl(NULL, 0, "migrate", NULL);
    CHECK(rc == 0, "second migrate exited %d", rc);
    after_master = itest_sql_value(master,
                                   "SELECT string_agg(version || checksum || applied_at, ',' "
                                   "ORDER BY version) FROM schema_migrations",
                                   NULL);
    after_tenant = itest_sql_value(db,
                                   "SELECT string_agg(version || checksum || applied_at, ',' "
                                   "ORDER BY version) FROM schema_migrations",
                                   NULL);
    CHECK(strcmp(before_master, after_master) == 0, "the second run changed the master");
    CHECK(strcmp(before_tenant, after_tenant) == 0, "the second run changed the tenant");

    expect_schema(db, tenant_tables, tenant_enums, tenant_indexes);
    expect_schema(master, master_tables, master_enums, master_indexes);
    /* The descending index of section 4 is descending. */
    v = itest_sql_value(db,
                        "SELECT (indexdef LIKE '%created_at DESC%')::text FROM pg_indexes"
                        " WHERE indexname = $1",
                        "idx_ledger_account_created");
    CHECK(strcmp(v, "true") == 0, "idx_ledger_account_created is not descending");
    free(v);
    /* CONNECT is revoked from PUBLIC on the tenant database. */
    v = itest_sql_value(db,
                        "SELECT has_database_privilege('public', current_database(), 'CONNECT')"
                        "::text",
                        NULL);
    CHECK(strcmp(v, "false") == 0, "PUBLIC may connect to the tenant database");
    free(v);
    /* Provisioning left its audit trail and made the tenant ACTIVE. */
    v = itest_sql_value(master,
                        "SELECT string_agg(action, ',' ORDER BY created_at) FROM tenant_audit_logs"
                        " WHERE tenant_id = $1::uuid AND action IN ('CREATED', 'PROVISIONED',"
                        " 'ACTIVATED')",
                        t.id);
    CHECK(strcmp(v, "CREATED,PROVISIONED,ACTIVATED") == 0, "tenant audit: %s", v);
    free(v);

    free(before_master);
    free(before_tenant);
    free(after_master);
    free(after_tenant);
    PQfinish(db);
    PQfinish(master);
    printf("1 passed, 0 failed\n");
    return 0;
}
