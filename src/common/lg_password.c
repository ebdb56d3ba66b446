#include "lg_password.h"

#include "lg_config.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void cost(unsigned long long *ops, size_t *mem)
{
    long o, m;
    char err[128];
    if (lg_config_int("LEDGER_PWHASH_OPSLIMIT", 3, 1, 20, &o, err, sizeof err) != 0)
        o = 3;
    if (lg_config_int("LEDGER_PWHASH_MEMLIMIT_KIB", 19 * 1024, 8, 1024 * 1024, &m, err,
                      sizeof err) != 0)
        m = 19 * 1024;
    *ops = (unsigned long long)o;
    *mem = (size_t)m * 1024;
}

int lg_password_hash(const char *password, char out[LG_PASSWORD_HASH_MAX])
{
    unsigned long long ops;
    size_t mem;
    cost(&ops, &mem);
    return crypto_pwhash_str_alg(out, password, strlen(password), ops, mem,
                                 crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

int lg_password_verify(const char *hash, const char *password)
{
    if (hash == NULL || strncmp(hash, "$argon2id$", 10) != 0)
        return 0;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int lg_password_needs_rehash(const char *hash)
{
    unsigned long long ops;
    size_t mem;
    cost(&ops, &mem);
    return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}

int lg_password_policy(const char *password, char *err, size_t err_size)
{
    size_t n = strlen(password);
    int lower = 0, upper = 0, digit = 0, other = 0;
    if (n < LG_PASSWORD_MIN || n > LG_PASSWORD_MAX) {
        snprintf(err, err_size, "a password has %d to %d characters", LG_PASSWORD_MIN,
                 LG_PASSWORD_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)password[i];
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
        digit |= c >= '0' && c <= '9';
        other |= !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
    }
    if (lower + upper + digit + other < 3) {
        snprintf(err, err_size,
                 "a password mixes at least three of: lower case, upper case, digits, others");
        return -1;
    }
    return 0;
}
