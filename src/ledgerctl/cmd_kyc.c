/*
 * ledgerctl kyc expire [--tenant S]: marks the VERIFIED customers whose identity document has
 * expired as EXPIRED, in one tenant or in every ACTIVE tenant, with an AuditLog row per
 * customer (user "system"; see lg_accounts.h). The API applies the same rule whenever it reads
 * customers, so this command only makes the status current for what reads the databases
 * directly (reports, exports); run it daily. Prints "<slug> <count>" per tenant; exit 1 when a
 * tenant could not be swept (the others still are).
 */
#include "ctl.h"

#include "lg_accounts.h"
#include "lg_db.h"

#include <stdio.h>
#include <string.h>

static int expire_tenant(PGconn *master, const lg_keyring *kr, const char *slug)
{
    char err[512];
    lg_tenant t;
    PGconn *db = ctl_tenant_db(master, kr, slug, &t);
    long n;
    if (db == NULL)
        return -1;
    n = lg_kyc_expire(db, "ledgerctl", NULL, err, sizeof err);
    PQfinish(db);
    if (n < 0) {
        ctl_error("tenant %s: %s", slug, err);
        return -1;
    }
    printf("%s %ld\n", slug, n);
    return 0;
}

int cmd_kyc(int argc, char **argv)
{
    ctl_opt opts[] = {{"tenant", NULL, 0}, {NULL, NULL, 0}};
    int failed;

    if (argc < 1 || strcmp(argv[0], "expire") != 0) {
        ctl_error("usage: ledgerctl kyc expire [--tenant S]");
        return CTL_USAGE;
    }
    if (ctl_parse(argc - 1, argv + 1, opts) != 0)
        return CTL_USAGE;
    failed = ctl_each_tenant(ctl_get(opts, "tenant"), expire_tenant);
    if (failed < 0)
        return CTL_FAIL;
    if (failed)
        fprintf(stderr, "kyc expire: %d tenant(s) failed\n", failed);
    return failed ? CTL_FAIL : CTL_OK;
}
