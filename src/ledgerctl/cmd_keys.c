/* ledgerctl keys: the master key file, and re-sealing tenant secrets under a new key. */
#include "ctl.h"

#include "lg_config.h"
#include "lg_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int keys_generate(const char *path)
{
    char err[512];
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "%s exists; keeping it\n", path);
        return CTL_OK;
    }
    if (lg_keyring_create_file(path, err, sizeof err) != 0) {
        ctl_error("%s", err);
        return CTL_FAIL;
    }
    fprintf(stderr, "wrote a new master key to %s (keep it out of every database and backup)\n",
            path);
    return CTL_OK;
}

/* Appends a key, then re-seals each tenant's database password under it, one row per
 * transaction: until the last row is done, old and new keys both open what they sealed, so the
 * API and the worker keep routing throughout. */
static int keys_rotate(const char *path)
{
    char err[512], new_id[64];
    PGconn *master = ctl_master();
    lg_keyring *old_kr = NULL, *kr = NULL;
    PGresult *res = NULL;
    int failed = 0;

    if (master == NULL)
        return CTL_FAIL;
    old_kr = lg_keyring_load(path, err, sizeof err);
    if (old_kr == NULL || lg_keyring_append_key(path, new_id, sizeof new_id, err, sizeof err) != 0 ||
        (kr = lg_keyring_load(path, err, sizeof err)) == NULL) {
        ctl_error("%s", err);
        failed = 1;
        goto out;
    }
    res = lg_db_query(master, "SELECT id, db_password, db_password_key_id FROM tenants", 0, NULL,
                      err, sizeof err);
    if (res == NULL) {
        ctl_error("%s", err);
        failed = 1;
        goto out;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = PQgetvalue(res, i, 0);
        char *plain = NULL, *sealed = NULL;
        const char *kid = NULL;
        PGresult *u;
        if (lg_secret_open(kr, PQgetvalue(res, i, 2), id, PQgetvalue(res, i, 1), &plain, err,
                           sizeof err) != 0 ||
            lg_secret_seal(kr, id, plain, &sealed, &kid, err, sizeof err) != 0) {
            ctl_error("tenant %s: %s", id, err);
            lg_secret_free(plain);
            failed++;
            continue;
        }
        lg_secret_free(plain);
        u = lg_db_query(master,
                        "UPDATE tenants SET db_password = $2, db_password_key_id = $3 "
                        "WHERE id = $1 AND db_password_key_id = $4",
                        4, (const char *[]){id, sealed, kid, PQgetvalue(res, i, 2)}, err,
                        sizeof err);
        free(sealed);
        if (u == NULL) {
            ctl_error("tenant %s: %s", id, err);
            failed++;
            continue;
        }
        PQclear(u);
        ctl_tenant_audit(master, id, "KEY_ROTATED", NULL);
    }
    fprintf(stderr, "new active key %s; %d tenant secret(s) re-sealed, %d failed\n", new_id,
            PQntuples(res) - failed, failed);
out:
    PQclear(res);
    lg_keyring_free(kr);
    lg_keyring_free(old_kr);
    PQfinish(master);
    return failed ? CTL_FAIL : CTL_OK;
}

int cmd_keys(int argc, char **argv)
{
    ctl_opt opts[] = {{"file", NULL, 0}, {NULL, NULL, 0}};
    const char *path;
    if (argc < 1 || ctl_parse(argc - 1, argv + 1, opts) != 0) {
        ctl_error("usage: ledgerctl keys generate|rotate [--file PATH]");
        return CTL_USAGE;
    }
    path = ctl_get(opts, "file");
    if (path == NULL)
        path = lg_config_str("LEDGER_MASTER_KEY_FILE", NULL);
    if (path == NULL) {
        ctl_error("give --file PATH or set LEDGER_MASTER_KEY_FILE");
        return CTL_USAGE;
    }
    if (strcmp(argv[0], "generate") == 0)
        return keys_generate(path);
    if (strcmp(argv[0], "rotate") == 0)
        return keys_rotate(path);
    ctl_error("unknown keys command \"%s\" (generate or rotate)", argv[0]);
    return CTL_USAGE;
}
