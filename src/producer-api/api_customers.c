/*
 * Customers (KYC) over REST: /v1/customers.
 *
 *   POST   /v1/customers               staff      the customer's User (role CUSTOMER) and Customer
 *   GET    /v1/customers               staff      a page; filters; ?include=accounts
 *   GET    /v1/customers/{id}          all        a CUSTOMER only its own record ("me" names it)
 *   PATCH  /v1/customers/{id}          staff      riskLevel: managers only
 *   DELETE /v1/customers/{id}          managers   soft; its zero-balance accounts close with it
 *   POST   /v1/customers/{id}/kyc      managers   {"status": VERIFIED|REJECTED} from PENDING
 *
 * KYC life cycle. Tellers collect the customer's data and documents; a manager decides:
 * PENDING -> VERIFIED or REJECTED (kycVerifiedAt/kycVerifiedBy record when and by whom the
 * decision was made). VERIFIED needs an identity document valid today, an address, and for an
 * individual the date of birth and nationality, for a company its name and registration
 * number. A verified customer whose document has expired becomes EXPIRED (lg_kyc_expire, run
 * before every read of customers and by `ledgerctl kyc expire`; audited as user "system").
 * Changing identity data (names, date of birth, nationality, document, company data, type) of
 * a customer that is not PENDING re-opens KYC: the status returns to PENDING and the decision
 * fields are cleared, so a corrected or renewed document is decided again. Only a VERIFIED
 * customer may open accounts (api_accounts.c).
 *
 * Who sees what: the bank's own customer record (CUST-00000, owner of the internal ledger
 * accounts) and soft-deleted customers do not exist for this resource; a CUSTOMER caller sees
 * only the record whose user it is - anything else is 404, never 403, so that ids cannot be
 * probed.
 *
 * Every mutation runs in one transaction that locks the rows it changes (SELECT ... FOR UPDATE)
 * and writes its AuditLog row with the fields that changed (never a password or hash).
 * Dates (dateOfBirth, idExpiryDate) travel as YYYY-MM-DD and are stored as midnight UTC.
 */
#include "api_mgmt.h"

#include "lg_accounts.h"
#include "lg_cursor.h"
#include "lg_log.h"
#include "lg_password.h"
#include "lg_time.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define P_NOT_FOUND      "/problems/not-found"
#define P_INVALID_FIELD  "/problems/invalid-field"
#define P_MISSING_FIELD  "/problems/missing-field"
#define P_FORBIDDEN      "/problems/forbidden"
#define P_EMAIL_TAKEN    "/problems/email-taken"
#define P_KYC_TRANSITION "/problems/invalid-kyc-transition"
#define P_KYC_INCOMPLETE "/problems/kyc-incomplete"
#define P_HAS_BALANCE    "/problems/customer-has-balance"
#define P_ACCOUNT_FROZEN "/problems/account-frozen"
#define P_INVALID_PARAM  "/problems/invalid-parameter"
#define P_INVALID_CURSOR "/problems/invalid-cursor"
#define P_INTERNAL       "/problems/internal"

#define REASON_MAX 500

/* The SQL below is laid out by hand. */
/* clang-format off */
#define CUSTOMER_COLUMNS                                                                           \
    "c.id, c.customer_number, c.customer_type, c.user_id, u.email, u.first_name, u.last_name,"     \
    " u.phone, " API_MGMT_DATE("c.date_of_birth") ", c.gender, c.nationality, c.id_type,"           \
    " c.id_number, " API_MGMT_DATE("c.id_expiry_date") ", c.address_line1, c.address_line2,"        \
    " c.city, c.state, c.postal_code, c.country, c.company_name, c.registration_number,"           \
    " c.tax_id, c.kyc_status, " API_MGMT_ISO_UTC("c.kyc_verified_at") ", c.kyc_verified_by,"        \
    " c.risk_level, " API_MGMT_ISO_UTC("c.created_at") ", " API_MGMT_ISO_UTC("c.updated_at") ","     \
    " " API_MGMT_EPOCH_US("c.created_at")
#define CUSTOMER_FROM " FROM customers c JOIN users u ON u.id = c.user_id"
/* The customers this resource knows: not deleted, not the bank itself. */
#define CUSTOMER_LIVE " c.deleted_at IS NULL AND c.customer_number <> 'CUST-00000'"
/* clang-format on */

/* The JSON names of CUSTOMER_COLUMNS, in order; the page key follows them. */
/* clang-format off */
static const char *const customer_json_names[] = {
    "id",            "customerNumber", "customerType", "userId",        "email",
    "firstName",     "lastName",       "phone",        "dateOfBirth",   "gender",
    "nationality",   "idType",         "idNumber",     "idExpiryDate",  "addressLine1",
    "addressLine2",  "city",           "state",        "postalCode",    "country",
    "companyName",   "registrationNumber", "taxId",    "kycStatus",     "kycVerifiedAt",
    "kycVerifiedBy", "riskLevel",      "createdAt",    "updatedAt",     NULL};
/* clang-format on */
#define CUSTOMER_COL_ID     0
#define CUSTOMER_COL_USER   3
#define CUSTOMER_COL_CURSOR 29

/* Shown by the resource, never set by a request body. */
static const char *const customer_read_only[] = {
    "id",        "customerNumber", "userId",   "kycStatus", "kycVerifiedAt", "kycVerifiedBy",
    "createdAt", "updatedAt",      "accounts", NULL};
#define READ_ONLY_HINT "it is read-only (kycStatus changes through POST /v1/customers/{id}/kyc)"

static const char *const customer_types[] = {"INDIVIDUAL", "CORPORATE", NULL};
static const char *const genders[] = {"MALE", "FEMALE", "OTHER", NULL};
static const char *const id_types[] = {"PASSPORT", "NATIONAL_ID", "DRIVERS_LICENSE",
                                       "RESIDENCE_PERMIT", NULL};
static const char *const risk_levels[] = {"LOW", "MEDIUM", "HIGH", NULL};
static const char *const kyc_statuses[] = {"PENDING", "VERIFIED", "REJECTED", "EXPIRED", NULL};

/* ISO 3166-1 alpha-2: the 249 officially assigned codes. */
static const char iso3166[] =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW";

/* ------------------------------------------------------------------ field checks */

static void today_utc(char out[11])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* A calendar date YYYY-MM-DD from 1900-01-01 to 9999-12-31. */
static int date_valid(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, leap;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return 0;
    y = (int)strtol(s, NULL, 10);
    m = (int)strtol(s + 5, NULL, 10);
    d = (int)strtol(s + 8, NULL, 10);
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap ? 1 : 0);
}

static int check_date(const char *v, char *why, size_t size)
{
    if (!date_valid(v)) {
        snprintf(why, size, "must be a date YYYY-MM-DD from 1900-01-01 on");
        return -1;
    }
    return 0;
}

static int check_birth(const char *v, char *why, size_t size)
{
    char today[11];
    if (check_date(v, why, size) != 0)
        return -1;
    today_utc(today);
    if (strcmp(v, today) > 0) {
        snprintf(why, size, "must not be in the future");
        return -1;
    }
    return 0;
}

static int check_country(const char *v, char *why, size_t size)
{
    const char *hit;
    if (strlen(v) == 2 && isupper((unsigned char)v[0]) && isupper((unsigned char)v[1]) &&
        (hit = strstr(iso3166, v)) != NULL && (hit - iso3166) % 3 == 0)
        return 0;
    snprintf(why, size, "must be an ISO 3166-1 alpha-2 country code in capitals, such as \"DE\"");
    return -1;
}

/* Roughly RFC 5321: local@domain, a dot-atom local part, a domain of at least two labels. */
static int check_email(const char *v, char *why, size_t size)
{
    static const char local_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789!#$%&'*+/=?^_`{|}~.-";
    const char *at = strchr(v, '@');
    const char *domain, *label;
    size_t local_len;
    if (at == NULL || strchr(at + 1, '@') != NULL)
        goto bad;
    local_len = (size_t)(at - v);
    domain = at + 1;
    if (local_len == 0 || local_len > 64 || strspn(v, local_chars) < local_len || v[0] == '.' ||
        at[-1] == '.' || strstr(v, "..") != NULL || strlen(domain) > 253)
        goto bad;
    label = domain;
    for (int labels = 1;; labels++) {
        size_t n = strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
        if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
            goto bad;
        if (label[n] == '\0') {
            /* The top-level label: letters, at least two, and at least one dot before it. */
            if (labels < 2 || n < 2)
                goto bad;
            for (size_t i = 0; i < n; i++)
                if (!isalpha((unsigned char)label[i]))
                    goto bad;
            return 0;
        }
        if (label[n] != '.')
            goto bad;
        label += n + 1;
    }
bad:
    snprintf(why, size, "must be an e-mail address such as \"ada@example.com\"");
    return -1;
}

static int check_phone(const char *v, char *why, size_t size)
{
    size_t digits = 0;
    const char *p = v[0] == '+' ? v + 1 : v;
    if (strspn(p, "0123456789 -()") == strlen(p) && isdigit((unsigned char)p[0])) {
        for (; *p != '\0'; p++)
            digits += isdigit((unsigned char)*p) ? 1 : 0;
        if (digits >= 7 && digits <= 15)
            return 0;
    }
    snprintf(why, size,
             "must be a phone number of 7 to 15 digits, optionally with a leading '+', spaces, "
             "'-' and parentheses");
    return -1;
}

static int check_postal_code(const char *v, char *why, size_t size)
{
    if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -") == strlen(v))
        return 0;
    snprintf(why, size, "may hold letters, digits, spaces and '-' only");
    return -1;
}

static int check_document_number(const char *v, char *why, size_t size)
{
    if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -./") ==
        strlen(v))
        return 0;
    snprintf(why, size, "may hold letters, digits, spaces and - . / only");
    return -1;
}

/* ------------------------------------------------------------------ the fields */

/* A field a request may write: where it lives, how it is checked. */
typedef struct {
    const char *name; /* the API's name */
    char table;       /* 'u' users, 'c' customers */
    const char *column;
    const char *cast;          /* SQL cast of its parameter: "" for text */
    int is_date;               /* YYYY-MM-DD, stored as midnight UTC */
    size_t max;                /* bytes */
    const char *const *values; /* an enumeration, or NULL */
    int (*check)(const char *value, char *why, size_t why_size);
    int not_null;     /* never null: required on create unless dflt is set */
    const char *dflt; /* its value on create when absent */
    int identity;     /* a change re-opens KYC */
} customer_field;

static const customer_field fields[] = {
    {"email", 'u', "email", "", 0, 254, NULL, check_email, 1, NULL, 0},
    {"firstName", 'u', "first_name", "", 0, 100, NULL, NULL, 1, NULL, 1},
    {"lastName", 'u', "last_name", "", 0, 100, NULL, NULL, 1, NULL, 1},
    {"phone", 'u', "phone", "", 0, 32, NULL, check_phone, 0, NULL, 0},
    {"customerType", 'c', "customer_type", "::customer_type", 0, 16, customer_types, NULL, 1,
     "INDIVIDUAL", 1},
    {"dateOfBirth", 'c', "date_of_birth", "", 1, 10, NULL, check_birth, 0, NULL, 1},
    {"gender", 'c', "gender", "::gender", 0, 16, genders, NULL, 0, NULL, 0},
    {"nationality", 'c', "nationality", "", 0, 2, NULL, check_country, 0, NULL, 1},
    {"idType", 'c', "id_type", "", 0, 32, id_types, NULL, 0, NULL, 1},
    {"idNumber", 'c', "id_number", "", 0, 64, NULL, check_document_number, 0, NULL, 1},
    {"idExpiryDate", 'c', "id_expiry_date", "", 1, 10, NULL, check_date, 0, NULL, 1},
    {"addressLine1", 'c', "address_line1", "", 0, 200, NULL, NULL, 0, NULL, 0},
    {"addressLine2", 'c', "address_line2", "", 0, 200, NULL, NULL, 0, NULL, 0},
    {"city", 'c', "city", "", 0, 100, NULL, NULL, 0, NULL, 0},
    {"state", 'c', "state", "", 0, 100, NULL, NULL, 0, NULL, 0},
    {"postalCode", 'c', "postal_code", "", 0, 20, NULL, check_postal_code, 0, NULL, 0},
    {"country", 'c', "country", "", 0, 2, NULL, check_country, 0, NULL, 0},
    {"companyName", 'c', "company_name", "", 0, 200, NULL, NULL, 0, NULL, 1},
    {"registrationNumber", 'c', "registration_number", "", 0, 64, NULL, check_document_number, 0,
     NULL, 1},
    {"taxId", 'c', "tax_id", "", 0, 64, NULL, check_document_number, 0, NULL, 1},
    {"riskLevel", 'c', "risk_level", "::risk_level", 0, 16, risk_levels, NULL, 1, "LOW", 0},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static int one_of(const char *v, const char *const *set)
{
    for (size_t i = 0; set[i] != NULL; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

/*
 * Reads field f from body. Returns 0 when absent, 1 with *value (a new reference: a string,
 * normalised, or null) when present, -1 answered (422) when it breaks a rule.
 */
static int read_field(api_request *r, const customer_field *f, json_t *body, json_t **value)
{
    const char *s;
    char why[160];
    int rc = api_mgmt_string(r, body, f->name, f->max, !f->not_null, &s);
    *value = NULL;
    if (rc <= 0)
        return rc;
    if (s == NULL) {
        *value = json_null();
        return 1;
    }
    if (f->values != NULL && !one_of(s, f->values)) {
        char list[160] = "";
        for (size_t i = 0; f->values[i] != NULL; i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%s", i > 0 ? ", " : "", f->values[i]);
        }
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", f->name, "%s must be one of %s",
                         f->name, list);
        return -1;
    }
    if (f->check != NULL && f->check(s, why, sizeof why) != 0) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", f->name, "%s %s", f->name, why);
        return -1;
    }
    if (strcmp(f->name, "email") == 0) {
        /* Addresses are kept in lower case, so one mailbox is one user. */
        char lower[256];
        size_t n = strlen(s);
        for (size_t i = 0; i < n && i + 1 < sizeof lower; i++)
            lower[i] = (char)tolower((unsigned char)s[i]);
        lower[n < sizeof lower ? n : sizeof lower - 1] = '\0';
        *value = json_string(lower);
    } else {
        *value = json_string(s);
    }
    return 1;
}

/* The rules between fields, on a whole record (API names). Returns 0, or -1 answered. */
static int check_record(api_request *r, const json_t *rec)
{
    const char *type = api_mgmt_str(rec, "customerType");
    if (strcmp(type, "CORPORATE") == 0 && api_mgmt_str(rec, "companyName") == NULL) {
        api_problem(r, 422, P_MISSING_FIELD, "Missing field", "companyName",
                         "a CORPORATE customer needs companyName");
        return -1;
    }
    if (strcmp(type, "INDIVIDUAL") == 0 && (api_mgmt_str(rec, "companyName") != NULL ||
                                            api_mgmt_str(rec, "registrationNumber") != NULL)) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field",
                         api_mgmt_str(rec, "companyName") != NULL ? "companyName"
                                                                  : "registrationNumber",
                         "an INDIVIDUAL customer has no companyName or registrationNumber "
                         "(set customerType CORPORATE for a company)");
        return -1;
    }
    return 0;
}

/* What a KYC verification needs that rec lacks, as a readable list into out ("" if nothing). */
static void kyc_missing(const json_t *rec, char *out, size_t size)
{
    static const char *const always[] = {
        "idType", "idNumber", "idExpiryDate", "addressLine1", "city", "country", NULL};
    static const char *const individual[] = {"dateOfBirth", "nationality", NULL};
    static const char *const corporate[] = {"companyName", "registrationNumber", NULL};
    const char *const *sets[] = {always, strcmp(api_mgmt_str(rec, "customerType"), "CORPORATE") == 0
                                             ? corporate
                                             : individual};
    char today[11];
    const char *expiry = api_mgmt_str(rec, "idExpiryDate");
    out[0] = '\0';
    for (size_t s = 0; s < 2; s++)
        for (size_t i = 0; sets[s][i] != NULL; i++)
            if (api_mgmt_str(rec, sets[s][i]) == NULL) {
                size_t used = strlen(out);
                snprintf(out + used, size - used, "%s%s", used > 0 ? ", " : "", sets[s][i]);
            }
    today_utc(today);
    if (out[0] == '\0' && expiry != NULL && strcmp(expiry, today) < 0)
        snprintf(out, size, "a valid identity document (this one expired on %s)", expiry);
}

/* ------------------------------------------------------------------ reading customers */

/* A row of CUSTOMER_COLUMNS as the API shows a customer. New reference. */
static json_t *customer_json(const PGresult *res, int row)
{
    json_t *o = json_object();
    for (int c = 0; customer_json_names[c] != NULL; c++)
        json_object_set_new(o, customer_json_names[c], api_db_text(res, row, c));
    return o;
}

/* The KYC expiry sweep before customers are read or decided on. Returns 0, or -1 answered. */
static int sweep_kyc(api_mgmt_db *x)
{
    char err[512];
    long n = lg_kyc_expire(x->db, "api", x->r->request_id, err, sizeof err);
    if (n < 0) {
        api_mgmt_db_fail(x, "customer", err);
        return -1;
    }
    if (n > 0)
        lg_log_kv(LG_LOG_INFO, (const char *[]){"request_id", x->r->request_id, NULL},
                  "tenant %s: %ld customer(s) KYC EXPIRED", x->caller->tenant.slug, n);
    return 0;
}

/* Reads one live customer by id (visible to the caller; "FOR UPDATE OF c, u" when lock).
 * Returns the result (0 or 1 row) or NULL answered. */
static PGresult *select_customer(api_mgmt_db *x, const char *id, int lock)
{
    char sql[2048];
    const char *params[3] = {id, api_mgmt_is_staff(x->caller) ? "true" : "false",
                             lg_uuid_valid(x->caller->user_id) ? x->caller->user_id : NULL};
    snprintf(sql, sizeof sql,
             "SELECT " CUSTOMER_COLUMNS CUSTOMER_FROM " WHERE" CUSTOMER_LIVE
             " AND c.id = $1::uuid AND ($2::boolean OR c.user_id = $3::uuid)%s",
             lock ? " FOR UPDATE OF c, u" : "");
    return api_mgmt_db_query(x, "customer", sql, 3, params);
}

/* Answers with the customer (status 200 or 201), read after the change; closes x. */
static void answer_customer(api_mgmt_db *x, const char *id, int status, int include_accounts)
{
    PGresult *res = select_customer(x, id, 0);
    json_t *o;
    if (res == NULL)
        return;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(x);
        api_problem(x->r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        return;
    }
    o = customer_json(res, 0);
    PQclear(res);
    if (include_accounts) {
        json_t *one = json_array();
        json_array_append(one, o);
        if (api_accounts_embed(x, one) != 0) {
            json_decref(one);
            json_decref(o);
            return;
        }
        json_decref(one);
    }
    api_mgmt_db_close(x);
    if (status == 201)
        snprintf(x->r->location, sizeof x->r->location, "/v1/customers/%s", id);
    api_respond_json(x->r, status, o);
}

static int parse_include(api_request *r, const char *value, int *include_accounts)
{
    *include_accounts = 0;
    if (value == NULL)
        return 0;
    if (strcmp(value, "accounts") != 0) {
        api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "include",
                         "include takes the value \"accounts\"");
        return -1;
    }
    *include_accounts = 1;
    return 0;
}

/* GET /v1/customers/{id} ("me": the caller's own record, for a CUSTOMER). */
static void get_customer(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {"include", NULL};
    const char *q[2];
    char own_id[LG_UUID_STRLEN];
    const char *id = params[0];
    int include_accounts;
    api_mgmt_db x;

    if (api_mgmt_query(r, names, q) != 0 || parse_include(r, q[0], &include_accounts) != 0)
        return;
    if (!lg_uuid_valid(id) && !(strcmp(id, "me") == 0 && !api_mgmt_is_staff(caller))) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        return;
    }
    if (api_mgmt_db_open(&x, r, caller) != 0 || sweep_kyc(&x) != 0 ||
        api_mgmt_db_scope_customer(&x) != 0)
        return;
    if (strcmp(id, "me") == 0) {
        PGresult *res = api_mgmt_db_query(
            &x, "customer",
            "SELECT c.id FROM customers c WHERE" CUSTOMER_LIVE " AND c.user_id = $1::uuid", 1,
            (const char *[]){lg_uuid_valid(caller->user_id) ? caller->user_id : NULL});
        if (res == NULL)
            return;
        if (PQntuples(res) != 1) {
            PQclear(res);
            api_mgmt_db_close(&x);
            api_problem(r, 404, P_NOT_FOUND, "Not found", NULL,
                             "the caller is no customer of the bank");
            return;
        }
        snprintf(own_id, sizeof own_id, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        id = own_id;
    }
    answer_customer(&x, id, 200, include_accounts);
}

enum { LQ_KYC, LQ_RISK, LQ_TYPE, LQ_NUMBER, LQ_EMAIL, LQ_INCLUDE, LQ_LIMIT, LQ_CURSOR, LQ_N };

/* GET /v1/customers */
static void list_customers(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const names[] = {"kycStatus",      "riskLevel", "customerType",
                                        "customerNumber", "email",     "include",
                                        "limit",          "cursor",    NULL};
    const char *q[LQ_N + 1];
    char cursor_pg[LG_TIME_PG_STRLEN], cursor_id[LG_UUID_STRLEN], limit_text[16];
    char next[LG_CURSOR_STRLEN], email[256];
    int64_t cursor_us = 0;
    int limit, include_accounts, rows;
    api_mgmt_db x;
    PGresult *res;
    json_t *data;
    (void)params;

    if (api_mgmt_query(r, names, q) != 0 ||
        api_mgmt_enum_param(r, "kycStatus", q[LQ_KYC], kyc_statuses) != 0 ||
        api_mgmt_enum_param(r, "riskLevel", q[LQ_RISK], risk_levels) != 0 ||
        api_mgmt_enum_param(r, "customerType", q[LQ_TYPE], customer_types) != 0 ||
        parse_include(r, q[LQ_INCLUDE], &include_accounts) != 0 ||
        api_query_limit(r, q[LQ_LIMIT], &limit) != 0)
        return;
    if (q[LQ_NUMBER] != NULL &&
        (strncmp(q[LQ_NUMBER], "CUST-", 5) != 0 || strlen(q[LQ_NUMBER]) < 10 ||
         strlen(q[LQ_NUMBER]) > 24 ||
         strspn(q[LQ_NUMBER] + 5, "0123456789") != strlen(q[LQ_NUMBER] + 5))) {
        api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "customerNumber",
                         "customerNumber looks like CUST-00042");
        return;
    }
    if (q[LQ_EMAIL] != NULL) {
        char why[128];
        size_t n = strlen(q[LQ_EMAIL]);
        if (n >= sizeof email || check_email(q[LQ_EMAIL], why, sizeof why) != 0) {
            api_problem(r, 400, P_INVALID_PARAM, "Invalid query parameter", "email",
                             "email must be an e-mail address");
            return;
        }
        for (size_t i = 0; i <= n; i++)
            email[i] = (char)tolower((unsigned char)q[LQ_EMAIL][i]);
    }
    if (q[LQ_CURSOR] != NULL &&
        (lg_cursor_decode_row(LG_CURSOR_CUSTOMERS, q[LQ_CURSOR], &cursor_us, cursor_id) != 0 ||
         lg_time_format_pg(cursor_us, cursor_pg, sizeof cursor_pg) == NULL)) {
        api_problem(r, 400, P_INVALID_CURSOR, "Invalid cursor", "cursor",
                         "cursor must be a nextCursor returned by this list, unchanged");
        return;
    }
    snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
    if (api_mgmt_db_open(&x, r, caller) != 0 || sweep_kyc(&x) != 0)
        return;
    res = api_mgmt_db_query(
        &x, "customers",
        "SELECT " CUSTOMER_COLUMNS CUSTOMER_FROM " WHERE" CUSTOMER_LIVE
        " AND ($1::kyc_status IS NULL OR c.kyc_status = $1::kyc_status)"
        " AND ($2::risk_level IS NULL OR c.risk_level = $2::risk_level)"
        " AND ($3::customer_type IS NULL OR c.customer_type = $3::customer_type)"
        " AND ($4::text IS NULL OR c.customer_number = $4::text)"
        " AND ($5::text IS NULL OR u.email = $5::text)"
        " AND ($6::timestamptz IS NULL OR (c.created_at, c.id) < ($6::timestamptz, $7::uuid))"
        " ORDER BY c.created_at DESC, c.id DESC LIMIT $8::integer",
        8,
        (const char *[]){q[LQ_KYC], q[LQ_RISK], q[LQ_TYPE], q[LQ_NUMBER],
                         q[LQ_EMAIL] != NULL ? email : NULL,
                         q[LQ_CURSOR] != NULL ? cursor_pg : NULL,
                         q[LQ_CURSOR] != NULL ? cursor_id : NULL, limit_text});
    if (res == NULL)
        return;
    rows = PQntuples(res);
    data = json_array();
    for (int i = 0; i < rows && i < limit; i++)
        json_array_append_new(data, customer_json(res, i));
    if (rows > limit &&
        lg_cursor_encode_row(LG_CURSOR_CUSTOMERS,
                             api_mgmt_col_int64(res, limit - 1, CUSTOMER_COL_CURSOR),
                             PQgetvalue(res, limit - 1, CUSTOMER_COL_ID), next, sizeof next) != 0) {
        PQclear(res);
        json_decref(data);
        api_mgmt_db_close(&x);
        api_problem(r, 500, P_INTERNAL, "Internal error", NULL,
                         "the next page cannot be addressed");
        return;
    }
    PQclear(res);
    /* The accounts of the whole page come with one more query, never one per customer. */
    if (include_accounts && api_accounts_embed(&x, data) != 0) {
        json_decref(data);
        return;
    }
    api_mgmt_db_close(&x);
    api_respond_json(r, 200, api_page_json(data, rows > limit ? next : NULL));
}

/* ------------------------------------------------------------------ writing customers */

/* The parameter text of a record's field (NULL for null). */
static const char *param_of(const json_t *rec, const customer_field *f)
{
    return api_mgmt_str(rec, f->name);
}

/* The SQL expression of parameter n for field f. */
static void value_expr(char *out, size_t size, const customer_field *f, int n)
{
    if (f->is_date)
        snprintf(out, size, "($%d::date)::timestamp AT TIME ZONE 'UTC'", n);
    else
        snprintf(out, size, "$%d%s", n, f->cast);
}

/* POST /v1/customers */
static void create_customer(api_request *r, const api_caller *caller, const char *const *params)
{
    const char *allowed[N_FIELDS + 2];
    const char *sql_params[N_FIELDS + 2];
    const char *password = NULL;
    char hash[LG_PASSWORD_HASH_MAX], why[256], sql[4096], id[LG_UUID_STRLEN];
    json_t *body, *rec = NULL, *changes = NULL, *meta = NULL;
    PGresult *res;
    api_mgmt_db x;
    size_t used;
    int n;
    (void)params;

    for (size_t i = 0; i < N_FIELDS; i++)
        allowed[i] = fields[i].name;
    allowed[N_FIELDS] = "password";
    allowed[N_FIELDS + 1] = NULL;
    body = api_mgmt_body(r, allowed, customer_read_only, READ_ONLY_HINT, 0);
    if (body == NULL)
        return;
    rec = json_object();
    for (size_t i = 0; i < N_FIELDS; i++) {
        const customer_field *f = &fields[i];
        json_t *v;
        int rc = read_field(r, f, body, &v);
        if (rc < 0)
            goto out;
        if (rc == 0 && f->not_null && f->dflt == NULL) {
            api_problem(r, 422, P_MISSING_FIELD, "Missing field", f->name, "%s is required",
                             f->name);
            goto out;
        }
        if (rc == 0)
            v = f->dflt != NULL ? json_string(f->dflt) : json_null();
        json_object_set_new(rec, f->name, v);
    }
    if (check_record(r, rec) != 0)
        goto out;
    /* A password is optional: without one the customer cannot sign in until one is set. */
    if (api_mgmt_string(r, body, "password", LG_PASSWORD_MAX, 1, &password) < 0)
        goto out;
    if (password != NULL) {
        if (lg_password_policy(password, why, sizeof why) != 0) {
            api_problem(r, 422, P_INVALID_FIELD, "Invalid field", "password", "%s", why);
            goto out;
        }
        if (lg_password_hash(password, hash) != 0) {
            api_problem(r, 500, P_INTERNAL, "Internal error", NULL,
                             "the password cannot be hashed right now");
            goto out;
        }
    } else {
        snprintf(hash, sizeof hash, "!");
    }

    if (api_mgmt_db_open(&x, r, caller) != 0)
        goto out;
    if (api_mgmt_db_begin(&x) != 0)
        goto out;
    res = api_mgmt_db_query(
        &x, "customer",
        "INSERT INTO users (email, password_hash, first_name, last_name, phone, role)"
        " VALUES ($1, $2, $3, $4, $5, 'CUSTOMER')"
        " ON CONFLICT (email) WHERE deleted_at IS NULL DO NOTHING RETURNING id",
        5,
        (const char *[]){api_mgmt_str(rec, "email"), hash, api_mgmt_str(rec, "firstName"),
                         api_mgmt_str(rec, "lastName"), api_mgmt_str(rec, "phone")});
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_EMAIL_TAKEN, "E-mail address in use", "email",
                         "a user of the bank already has this e-mail address");
        goto out;
    }
    sql_params[0] = PQgetvalue(res, 0, 0);
    n = 1;
    used = (size_t)snprintf(sql, sizeof sql, "INSERT INTO customers (user_id, customer_number");
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].table == 'c')
            used += (size_t)snprintf(sql + used, sizeof sql - used, ", %s", fields[i].column);
    used += (size_t)snprintf(sql + used, sizeof sql - used,
                             ") VALUES ($1::uuid, 'CUST-' || translate(format('%%5s',"
                             " nextval('customer_number_seq')), ' ', '0')");
    for (size_t i = 0; i < N_FIELDS; i++) {
        char expr[96];
        if (fields[i].table != 'c')
            continue;
        sql_params[n] = param_of(rec, &fields[i]);
        n++;
        value_expr(expr, sizeof expr, &fields[i], n);
        used += (size_t)snprintf(sql + used, sizeof sql - used, ", %s", expr);
    }
    snprintf(sql + used, sizeof sql - used, ") RETURNING id, customer_number");
    {
        PGresult *c = api_mgmt_db_query(&x, "customer", sql, n, sql_params);
        PQclear(res);
        if (c == NULL)
            goto out;
        snprintf(id, sizeof id, "%s", PQgetvalue(c, 0, 0));
        changes = json_object();
        api_mgmt_change_text(changes, "customerNumber", NULL, PQgetvalue(c, 0, 1));
        PQclear(c);
    }
    for (size_t i = 0; i < N_FIELDS; i++)
        api_mgmt_change(changes, fields[i].name, NULL, json_object_get(rec, fields[i].name));
    api_mgmt_change_text(changes, "kycStatus", NULL, "PENDING");
    meta = json_pack("{s:b}", "loginEnabled", password != NULL);
    if (api_mgmt_audit(&x, "CREATE_CUSTOMER", "Customer", id, changes, meta) != 0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    answer_customer(&x, id, 201, 0);
out:
    sodium_memzero(hash, sizeof hash);
    json_decref(meta);
    json_decref(changes);
    json_decref(rec);
    json_decref(body);
}

/* PATCH /v1/customers/{id}: the fields given change; null clears an optional one. */
static void patch_customer(api_request *r, const api_caller *caller, const char *const *params)
{
    const char *allowed[N_FIELDS + 1];
    const char *id = params[0];
    const char *sql_params[N_FIELDS + 2];
    char sql[4096];
    json_t *body, *patch = NULL, *current = NULL, *merged = NULL, *changes = NULL;
    PGresult *res;
    api_mgmt_db x;
    int identity_changed = 0, user_changed = 0, reopen;
    size_t used;
    int n;

    for (size_t i = 0; i < N_FIELDS; i++)
        allowed[i] = fields[i].name;
    allowed[N_FIELDS] = NULL;
    body = api_mgmt_body(r, allowed, customer_read_only,
                         READ_ONLY_HINT "; a password is set by its owner", 0);
    if (body == NULL)
        return;
    patch = json_object();
    for (size_t i = 0; i < N_FIELDS; i++) {
        json_t *v;
        int rc = read_field(r, &fields[i], body, &v);
        if (rc < 0)
            goto out;
        if (rc > 0)
            json_object_set_new(patch, fields[i].name, v);
    }
    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        goto out;
    }
    if (api_mgmt_db_open(&x, r, caller) != 0 || sweep_kyc(&x) != 0 || api_mgmt_db_begin(&x) != 0)
        goto out;
    res = select_customer(&x, id, 1);
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        goto out;
    }
    current = customer_json(res, 0);
    PQclear(res);
    merged = json_deep_copy(current);
    json_object_update_existing(merged, patch);
    if (check_record(r, merged) != 0) {
        api_mgmt_db_close(&x);
        goto out;
    }
    changes = json_object();
    for (size_t i = 0; i < N_FIELDS; i++) {
        const customer_field *f = &fields[i];
        json_t *before = json_object_get(current, f->name),
               *after = json_object_get(merged, f->name);
        if (json_equal(before, after))
            continue;
        api_mgmt_change(changes, f->name, before, after);
        identity_changed |= f->identity;
        user_changed |= f->table == 'u';
    }
    /* Risk ratings are the branch management's call. */
    if (json_object_get(changes, "riskLevel") != NULL && !api_mgmt_is_manager(caller)) {
        api_mgmt_db_close(&x);
        api_problem(r, 403, P_FORBIDDEN, "Forbidden", "riskLevel",
                         "changing riskLevel needs the role MANAGER or SUPER_ADMIN");
        goto out;
    }
    if (json_object_size(changes) == 0) {
        /* Nothing to change, nothing to audit. */
        if (api_mgmt_db_commit(&x) == 0)
            answer_customer(&x, id, 200, 0);
        goto out;
    }
    if (json_object_get(changes, "email") != NULL) {
        res = api_mgmt_db_query(
            &x, "customer", "SELECT 1 FROM users WHERE email = $1 AND id <> $2::uuid", 2,
            (const char *[]){api_mgmt_str(merged, "email"), api_mgmt_str(current, "userId")});
        if (res == NULL)
            goto out;
        if (PQntuples(res) > 0) {
            PQclear(res);
            api_mgmt_db_close(&x);
            api_problem(r, 409, P_EMAIL_TAKEN, "E-mail address in use", "email",
                             "a user of the bank already has this e-mail address");
            goto out;
        }
        PQclear(res);
    }
    /* New identity data is decided again. */
    reopen = identity_changed && strcmp(api_mgmt_str(current, "kycStatus"), "PENDING") != 0;
    if (reopen) {
        api_mgmt_change_text(changes, "kycStatus", api_mgmt_str(current, "kycStatus"), "PENDING");
        api_mgmt_change(changes, "kycVerifiedAt", json_object_get(current, "kycVerifiedAt"), NULL);
        api_mgmt_change(changes, "kycVerifiedBy", json_object_get(current, "kycVerifiedBy"), NULL);
    }
    if (user_changed) {
        res = api_mgmt_db_query(
            &x, "customer",
            "UPDATE users SET email = $2, first_name = $3, last_name = $4,"
            " phone = $5 WHERE id = $1::uuid",
            5,
            (const char *[]){api_mgmt_str(current, "userId"), api_mgmt_str(merged, "email"),
                             api_mgmt_str(merged, "firstName"), api_mgmt_str(merged, "lastName"),
                             api_mgmt_str(merged, "phone")});
        if (res == NULL)
            goto out;
        PQclear(res);
    }
    sql_params[0] = id;
    n = 1;
    used = (size_t)snprintf(sql, sizeof sql, "UPDATE customers SET ");
    for (size_t i = 0; i < N_FIELDS; i++) {
        char expr[96];
        if (fields[i].table != 'c')
            continue;
        sql_params[n] = param_of(merged, &fields[i]);
        n++;
        value_expr(expr, sizeof expr, &fields[i], n);
        used += (size_t)snprintf(sql + used, sizeof sql - used, "%s%s = %s", n > 2 ? ", " : "",
                                 fields[i].column, expr);
    }
    sql_params[n] = reopen ? "true" : "false";
    n++;
    snprintf(sql + used, sizeof sql - used,
             ", kyc_status = CASE WHEN $%d::boolean THEN 'PENDING' ELSE kyc_status END,"
             " kyc_verified_at = CASE WHEN $%d::boolean THEN NULL ELSE kyc_verified_at END,"
             " kyc_verified_by = CASE WHEN $%d::boolean THEN NULL ELSE kyc_verified_by END"
             " WHERE id = $1::uuid",
             n, n, n);
    res = api_mgmt_db_query(&x, "customer", sql, n, sql_params);
    if (res == NULL)
        goto out;
    PQclear(res);
    if (api_mgmt_audit(&x, "UPDATE_CUSTOMER", "Customer", id, changes, NULL) != 0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    answer_customer(&x, id, 200, 0);
out:
    json_decref(changes);
    json_decref(merged);
    json_decref(current);
    json_decref(patch);
    json_decref(body);
}

/*
 * DELETE /v1/customers/{id}: soft. Refused while any of its accounts holds money (or a hold)
 * or is FROZEN; its other accounts are closed and deleted with it, and its user can no longer
 * sign in. Every account change is audited, then the customer's deletion.
 */
static void delete_customer(api_request *r, const api_caller *caller, const char *const *params)
{
    const char *id = params[0];
    char user_id[LG_UUID_STRLEN], blocked[256] = "", frozen[256] = "";
    json_t *closed = NULL, *changes = NULL, *meta = NULL;
    PGresult *res, *accounts = NULL;
    api_mgmt_db x;
    int rows;

    if (r->body_len > 0) {
        api_problem(r, 400, "/problems/invalid-json", "Malformed request body", NULL,
                         "DELETE takes no body");
        return;
    }
    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        return;
    }
    if (api_mgmt_db_open(&x, r, caller) != 0 || api_mgmt_db_begin(&x) != 0)
        return;
    res = api_mgmt_db_query(&x, "customer",
                            "SELECT c.user_id FROM customers c WHERE" CUSTOMER_LIVE
                            " AND c.id = $1::uuid FOR UPDATE",
                            1, (const char *[]){id});
    if (res == NULL)
        return;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        return;
    }
    snprintf(user_id, sizeof user_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    /* In id order, as the worker locks accounts: no deadlock with a batch in flight. */
    accounts = api_mgmt_db_query(&x, "accounts",
                                 "SELECT a.id, a.account_number, a.status,"
                                 " a.balance <> 0 OR a.available_balance <> 0"
                                 " FROM accounts a WHERE a.customer_id = $1::uuid"
                                 " AND a.deleted_at IS NULL ORDER BY a.id FOR UPDATE",
                                 1, (const char *[]){id});
    if (accounts == NULL)
        return;
    rows = PQntuples(accounts);
    for (int i = 0; i < rows; i++) {
        char *list = PQgetvalue(accounts, i, 3)[0] == 't'                ? blocked
                     : strcmp(PQgetvalue(accounts, i, 2), "FROZEN") == 0 ? frozen
                                                                         : NULL;
        if (list != NULL) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof blocked - used, "%s%s", used > 0 ? ", " : "",
                     PQgetvalue(accounts, i, 1));
        }
    }
    if (blocked[0] != '\0' || frozen[0] != '\0') {
        PQclear(accounts);
        api_mgmt_db_close(&x);
        if (blocked[0] != '\0')
            api_problem(r, 409, P_HAS_BALANCE, "Customer holds money", NULL,
                             "the customer's accounts %s are not at zero balance; pay out and "
                             "close them first",
                             blocked);
        else
            api_problem(r, 409, P_ACCOUNT_FROZEN, "Account frozen", NULL,
                             "the customer's accounts %s are frozen; unfreeze them first", frozen);
        return;
    }
    closed = json_array();
    for (int i = 0; i < rows; i++) {
        json_t *account_changes = json_object();
        PGresult *u = api_mgmt_db_query(
            &x, "account",
            "UPDATE accounts SET status = 'CLOSED', closed_at = coalesce(closed_at, now()),"
            " deleted_at = now() WHERE id = $1::uuid RETURNING " API_MGMT_ISO_UTC("deleted_at"),
            1, (const char *[]){PQgetvalue(accounts, i, 0)});
        int failed;
        if (u == NULL) {
            json_decref(account_changes);
            goto out;
        }
        api_mgmt_change_text(account_changes, "status", PQgetvalue(accounts, i, 2), "CLOSED");
        api_mgmt_change_text(account_changes, "deletedAt", NULL, PQgetvalue(u, 0, 0));
        PQclear(u);
        meta = json_pack("{s:s, s:s}", "accountNumber", PQgetvalue(accounts, i, 1), "cause",
                         "DELETE_CUSTOMER");
        failed = api_mgmt_audit(&x, "DELETE_ACCOUNT", "Account", PQgetvalue(accounts, i, 0),
                                account_changes, meta);
        json_decref(meta);
        meta = NULL;
        json_decref(account_changes);
        if (failed != 0)
            goto out;
        json_array_append_new(closed, json_string(PQgetvalue(accounts, i, 1)));
    }
    res = api_mgmt_db_query(&x, "customer",
                            "UPDATE customers SET deleted_at = now() WHERE id = $1::uuid"
                            " RETURNING " API_MGMT_ISO_UTC("deleted_at"),
                            1, (const char *[]){id});
    if (res == NULL)
        goto out;
    changes = json_object();
    api_mgmt_change_text(changes, "deletedAt", NULL, PQgetvalue(res, 0, 0));
    PQclear(res);
    /* Its user signs in no more (the API checks deleted_at on every request). */
    res =
        api_mgmt_db_query(&x, "customer", "UPDATE users SET deleted_at = now() WHERE id = $1::uuid",
                          1, (const char *[]){user_id});
    if (res == NULL)
        goto out;
    PQclear(res);
    meta = json_pack("{s:O}", "accountsClosed", closed);
    if (api_mgmt_audit(&x, "DELETE_CUSTOMER", "Customer", id, changes, meta) != 0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    api_mgmt_db_close(&x);
    api_respond(r, 204, NULL, NULL);
out:
    PQclear(accounts);
    json_decref(meta);
    json_decref(changes);
    json_decref(closed);
}

/* POST /v1/customers/{id}/kyc {"status": "VERIFIED" | "REJECTED", "reason": "..."} */
static void decide_kyc(api_request *r, const api_caller *caller, const char *const *params)
{
    static const char *const allowed[] = {"status", "reason", NULL};
    const char *id = params[0], *status = NULL, *reason = NULL;
    char missing[256];
    json_t *body, *current = NULL, *changes = NULL, *meta = NULL;
    PGresult *res;
    api_mgmt_db x;
    int verified;

    body = api_mgmt_body(r, allowed, NULL, NULL, 0);
    if (body == NULL)
        return;
    if (api_mgmt_string(r, body, "status", 16, 0, &status) < 0 ||
        api_mgmt_string(r, body, "reason", REASON_MAX, 1, &reason) < 0)
        goto out;
    if (status == NULL) {
        api_problem(r, 422, P_MISSING_FIELD, "Missing field", "status",
                         "status is required: VERIFIED or REJECTED");
        goto out;
    }
    if (strcmp(status, "VERIFIED") != 0 && strcmp(status, "REJECTED") != 0) {
        api_problem(r, 422, P_INVALID_FIELD, "Invalid field", "status",
                         "a KYC decision is VERIFIED or REJECTED (EXPIRED is set when the "
                         "identity document expires; PENDING when identity data changes)");
        goto out;
    }
    verified = strcmp(status, "VERIFIED") == 0;
    if (!verified && reason == NULL) {
        api_problem(r, 422, P_MISSING_FIELD, "Missing field", "reason",
                         "a rejection needs a reason");
        goto out;
    }
    if (!lg_uuid_valid(id)) {
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        goto out;
    }
    if (api_mgmt_db_open(&x, r, caller) != 0 || sweep_kyc(&x) != 0 || api_mgmt_db_begin(&x) != 0)
        goto out;
    res = select_customer(&x, id, 1);
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        PQclear(res);
        api_mgmt_db_close(&x);
        api_problem(r, 404, P_NOT_FOUND, "Not found", NULL, "no customer with this id");
        goto out;
    }
    current = customer_json(res, 0);
    PQclear(res);
    if (strcmp(api_mgmt_str(current, "kycStatus"), "PENDING") != 0) {
        api_mgmt_db_close(&x);
        api_problem(r, 409, P_KYC_TRANSITION, "KYC decision not possible", "status",
                         "the customer's KYC status is %s; a decision is made on a PENDING "
                         "customer only (changing the identity data makes it PENDING again)",
                         api_mgmt_str(current, "kycStatus"));
        goto out;
    }
    if (verified) {
        kyc_missing(current, missing, sizeof missing);
        if (missing[0] != '\0') {
            api_mgmt_db_close(&x);
            api_problem(r, 422, P_KYC_INCOMPLETE, "KYC data incomplete", NULL,
                             "verification needs %s", missing);
            goto out;
        }
    }
    res = api_mgmt_db_query(&x, "customer",
                            "UPDATE customers SET kyc_status = $2::kyc_status,"
                            " kyc_verified_at = now(), kyc_verified_by = $3"
                            " WHERE id = $1::uuid RETURNING " API_MGMT_ISO_UTC("kyc_verified_at"),
                            3, (const char *[]){id, status, caller->user_id});
    if (res == NULL)
        goto out;
    changes = json_object();
    api_mgmt_change_text(changes, "kycStatus", "PENDING", status);
    api_mgmt_change_text(changes, "kycVerifiedAt", api_mgmt_str(current, "kycVerifiedAt"),
                         PQgetvalue(res, 0, 0));
    api_mgmt_change_text(changes, "kycVerifiedBy", api_mgmt_str(current, "kycVerifiedBy"),
                         caller->user_id);
    PQclear(res);
    meta = reason != NULL ? json_pack("{s:s}", "reason", reason) : NULL;
    if (api_mgmt_audit(&x, verified ? "VERIFY_KYC" : "REJECT_KYC", "Customer", id, changes, meta) !=
            0 ||
        api_mgmt_db_commit(&x) != 0)
        goto out;
    answer_customer(&x, id, 200, 0);
out:
    json_decref(meta);
    json_decref(changes);
    json_decref(current);
    json_decref(body);
}

const api_route_def api_routes_customers[] = {
    {"POST", "/v1/customers", API_ROLES_STAFF, create_customer},
    {"GET", "/v1/customers", API_ROLES_STAFF, list_customers},
    {"GET", "/v1/customers/{}", API_ROLES_TENANT, get_customer},
    {"PATCH", "/v1/customers/{}", API_ROLES_STAFF, patch_customer},
    {"DELETE", "/v1/customers/{}", API_MGMT_MANAGERS, delete_customer},
    {"POST", "/v1/customers/{}/kyc", API_MGMT_MANAGERS, decide_kyc},
    {NULL, NULL, 0, NULL},
};
