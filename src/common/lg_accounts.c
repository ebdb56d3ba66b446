#include "lg_accounts.h"

#include "lg_db.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* The Luhn sum of digits[0..n), doubling every second digit from the right end of a number
 * whose check digit would follow (double_last: the last digit given is doubled). */
static int luhn_sum(const char *digits, size_t n, int double_last)
{
    int sum = 0;
    int dbl = double_last;
    for (size_t i = n; i-- > 0; dbl = !dbl) {
        int d = digits[i] - '0';
        if (dbl) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum;
}

void lg_account_number_generate(char out[LG_ACCOUNT_NUMBER_LEN + 1])
{
    out[0] = (char)('1' + randombytes_uniform(9));
    for (int i = 1; i < LG_ACCOUNT_NUMBER_LEN - 1; i++)
        out[i] = (char)('0' + randombytes_uniform(10));
    out[LG_ACCOUNT_NUMBER_LEN - 1] =
        (char)('0' + (10 - luhn_sum(out, LG_ACCOUNT_NUMBER_LEN - 1, 1) % 10) % 10);
    out[LG_ACCOUNT_NUMBER_LEN] = '\0';
}

int lg_luhn_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 2 || strspn(s, "0123456789") != n)
        return 0;
    return luhn_sum(s, n, 0) % 10 == 0;
}

/* The document is valid through its expiry day: expired once that day is before today (UTC).
 * Dates are stored as midnight UTC. */
static const char kyc_expire_sql[] =
    "WITH expired AS ("
    " UPDATE customers SET kyc_status = 'EXPIRED'"
    " WHERE kyc_status = 'VERIFIED' AND deleted_at IS NULL"
    " AND id_expiry_date < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    " RETURNING id, to_char(id_expiry_date AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS expiry)"
    " INSERT INTO audit_logs (user_id, action, resource, resource_id, changes, metadata)"
    " SELECT 'system', 'EXPIRE_KYC', 'Customer', id::text,"
    " jsonb_build_object('kycStatus', jsonb_build_object('before', 'VERIFIED', 'after',"
    " 'EXPIRED')),"
    " jsonb_strip_nulls(jsonb_build_object('idExpiryDate', expiry, 'source', $1::text,"
    " 'requestId', $2::text))"
    " FROM expired";

long lg_kyc_expire(PGconn *conn, const char *source, const char *request_id, char *err,
                   size_t err_size)
{
    PGresult *res =
        lg_db_query(conn, kyc_expire_sql, 2, (const char *[]){source, request_id}, err, err_size);
    long n;
    if (res == NULL)
        return -1;
    n = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return n;
}
