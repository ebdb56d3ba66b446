/*
 * producer-api internals. The server (api_server.c) owns libmicrohttpd and the Kafka producer;
 * routes (api_routes.c) route, and parse, authorise and produce the writes; reads (api_reads.c)
 * answer from the tenant databases; auth (api_auth.c) turns a credential into a caller. Data
 * flows one way: HTTP -> validation -> Kafka or PostgreSQL -> response.
 */
#ifndef LG_API_H
#define LG_API_H

#include "lg_avro.h"
#include "lg_crypto.h"
#include "lg_problem.h"
#include "lg_provision.h"
#include "lg_tenant.h"
#include "lg_trace.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stddef.h>
#include <time.h>

#define API_MAX_BODY (64 * 1024)

typedef struct {
    lg_router *router;
    lg_keyring *keyring;
    int db_wait_ms;
    /* The producer, replaced as a whole after a fatal error (an idempotent producer that lost
     * its sequence cannot go on): request threads produce under the read lock, the poll thread
     * swaps under the write lock. */
    rd_kafka_t *producer;
    pthread_rwlock_t producer_lock;
    char brokers[512];
    volatile int producer_fatal; /* set by the error callback, cleared by the swap */
    volatile int poll_stop;
    int draining; /* set under the write lock by api_kafka_drain: nothing more is produced */
    pthread_t poller;
    /* The PostgreSQL servers new tenants may be placed on (LEDGER_PG_SERVERS_FILE; NULL when
     * not configured) and the migrations folder (LEDGER_SQL_DIR). */
    lg_pg_servers *pg_servers;
    const char *sql_dir;
    /* GET /metrics (api_metrics.c); NULL when it could not be allocated. */
    struct api_metrics *metrics;
    /* Abuse limits (main.c reads them): the per-credential token buckets (api_ratelimit.h;
     * NULL: no limit), and the connection limits handed to libmicrohttpd. */
    struct api_ratelimit *ratelimit;
    unsigned int conn_timeout_s;
    unsigned int max_conns;
    unsigned int max_conns_per_ip;
} api_server;

/* Creates the producer and starts the thread that serves its delivery reports (and replaces it
 * after a fatal error). Returns 0 or -1 with err. */
int api_kafka_start(api_server *s, const char *brokers, char *err, size_t err_size);
/* The first step of stopping, while the HTTP threads may still serve requests: from now on a
 * command is answered 503 without being produced, and those in flight are waited for (up to
 * timeout_ms; then purged and answered 503), so that no connection stays suspended. The
 * producer stays valid until api_kafka_stop. */
void api_kafka_drain(api_server *s, int timeout_ms);
/* Waits up to timeout_ms for in-flight commands to be answered, then stops the thread and
 * destroys the producer. Only once no HTTP thread can produce any more (the daemon stopped). */
void api_kafka_stop(api_server *s, int timeout_ms);
/* Is the broker reachable (a metadata request answered within timeout_ms)? */
int api_kafka_ready(api_server *s, int timeout_ms);
/* Test builds only: makes the producer fail fatally, as a lost idempotent sequence would. */
void api_kafka_inject_fatal(api_server *s);

/* Roles, as bits so that a route names the set it allows. The tenant plane's roles are the
 * users' (UserRole); the system plane's are the SystemAdmins' (SystemRole). */
enum {
    API_ROLE_CUSTOMER = 1 << 0,
    API_ROLE_TELLER = 1 << 1,
    API_ROLE_MANAGER = 1 << 2,
    API_ROLE_SUPER_ADMIN = 1 << 3,
    API_ROLE_SYSTEM_SUPPORT = 1 << 8,
    API_ROLE_SYSTEM_ADMIN = 1 << 9,
    API_ROLE_SYSTEM_SUPER_ADMIN = 1 << 10,
};
#define API_ROLES_STAFF (API_ROLE_TELLER | API_ROLE_MANAGER | API_ROLE_SUPER_ADMIN)
#define API_ROLES_TENANT (API_ROLE_CUSTOMER | API_ROLES_STAFF)
#define API_ROLES_SYSTEM                                                                     \
    (API_ROLE_SYSTEM_SUPPORT | API_ROLE_SYSTEM_ADMIN | API_ROLE_SYSTEM_SUPER_ADMIN)

/* How the caller proved who it is. */
typedef enum {
    API_CALLER_API_KEY = 0,
    API_CALLER_USER_TOKEN,
    API_CALLER_SYSTEM_TOKEN
} api_caller_kind;

/* Who is calling: resolved from the credential, cross-checked with the tenant headers. */
typedef struct {
    api_caller_kind kind;
    lg_tenant tenant;             /* empty for a system admin */
    char user_id[LG_UUID_STRLEN]; /* the tenant user (or the system admin) acting */
    char email[256];              /* for the audit log; "" when unknown */
    char role[16];                /* the role's name, e.g. "TELLER" */
    unsigned role_bit;            /* API_ROLE_* */
    char key_id[LG_UUID_STRLEN];  /* the API key, for an API key caller */
} api_caller;

/* The bit of a role name ("TELLER" -> API_ROLE_TELLER); 0 when unknown. system selects the
 * system plane's names. */
unsigned api_role_bit(const char *name, int system);



/* One HTTP request, from its first byte to its completion. */
typedef struct api_request {
    struct MHD_Connection *connection;
    api_server *server;
    char method[8];
    char url[256];
    char request_id[LG_UUID_STRLEN + 28];
    char *body;
    size_t body_len;
    int body_too_large;
    int suspended;
    /* The answer, once known. */
    int status;
    char *response_body; /* malloc'd */
    const char *content_type;
    char location[128];
    int retry_after; /* seconds, 0 for none */
    pthread_mutex_t lock;
    /* For the request's log line and metrics (api_metrics.c). */
    struct timespec started; /* CLOCK_MONOTONIC */
    lg_trace trace;          /* this request's span, under the caller's traceparent if valid */
    char tenant[64];         /* the authenticated caller's tenant slug; "" when none */
    /* A request parked while a helper thread works for it (api_claims.c): when its
     * connection resumes, the handler calls resume(r) instead of answering. resume_state is
     * the parked handler's (freed by resume, or by free_state when the request ends first). */
    void (*resume)(struct api_request *r);
    void *resume_state;
    void (*free_state)(void *state);
} api_request;

/*
 * Routes. A pattern is a path whose "{}" segments match any one segment; the matched segments
 * are handed to the handler in order. roles is the set of roles allowed; 0 means no
 * authentication at all (health checks). The dispatcher authenticates, checks the role
 * (403 /problems/forbidden), answers 405 for a known path with another method, and 404 for
 * an unknown path.
 */
#define API_MAX_PATH_PARAMS 4
typedef void (*api_handler)(api_request *r, const api_caller *caller, const char *const *params);
typedef struct {
    const char *method;
    const char *pattern;
    unsigned roles;
    api_handler handler;
} api_route_def;

/* The route tables (one per module; api_dispatch.c lists them). */
extern const api_route_def api_routes_auth[];    /* api_login.c: logins, the caller */
extern const api_route_def api_routes_apikeys[]; /* api_apikeys.c: API keys */

/* The roles of the route-table route that r's method and path match; 0 when none does (also
 * for the paths that api_routes.c routes itself). */
unsigned api_route_roles(api_request *r);
/* The route tables of the modules, listed in api_dispatch.c. */
extern const api_route_def api_routes_users[];  /* api_users.c: the tenant's users */
extern const api_route_def api_routes_system[]; /* api_system.c: the system plane (tenants) */

/*
 * Writes an AuditLog row for a mutation in the caller's tenant database, on conn (inside the
 * mutation's transaction when it has one). changes is a JSON object {"field": {"before": ..,
 * "after": ..}} (borrowed; never a password or secret); metadata may be NULL. Returns 0 or -1
 * with err.
 */
int api_audit(api_request *r, const api_caller *caller, PGconn *conn, const char *action,
              const char *resource, const char *resource_id, json_t *changes, json_t *metadata,
              char *err, size_t err_size);

/* The client's IP address (IPv4 text) into buf, or NULL. */
const char *api_client_ip(api_request *r, char *buf, size_t size);

/* Sets the answer of r (takes ownership of body). */
void api_respond(api_request *r, int status, char *body, const char *content_type);
/* Answers with a problem+json body. */
void api_respond_problem(api_request *r, const lg_problem *p);
/* Answers with a JSON value (stolen). */
void api_respond_json(api_request *r, int status, json_t *value);

/* Route tables of the API's modules (listed in api_dispatch.c). */
extern const api_route_def api_routes_customers[]; /* api_customers.c: /v1/customers */
extern const api_route_def api_routes_accounts[];  /* api_accounts.c: /v1/accounts */
/* Every table above, NULL-terminated: what the dispatcher walks (api_dispatch.c), and what the
 * metrics name routes by. */
extern const api_route_def *const api_route_tables[];

/* Who may submit which transaction (api_accounts.c): MANAGER and SUPER_ADMIN anything; a
 * TELLER DEPOSIT, WITHDRAWAL and TRANSFER; a CUSTOMER a TRANSFER from an account of its own to
 * a customer account. Returns 0, or -1 with the answer set (403). */
int api_txn_authorize(api_request *r, const api_caller *caller, const lg_txn_command *cmd);

/* Handles a complete request: either answers it (r->status set) or suspends it until a
 * Kafka delivery report answers it. */
void api_route(api_request *r);

/* The reads (api_reads.c). Each authenticates the caller, reads the caller's tenant database
 * through the router's pool and answers r (JSON, or problem+json on error). */
/* GET /v1/transactions/{id}: the transaction; PENDING for an issued id not recorded yet. */
void api_get_transaction(api_request *r, const char *id);
/* GET /v1/transactions?ref=... (one transaction) or ?account=&status=&type=&from=&to=&limit=&cursor=
 * (a page of transactions, newest first). */
void api_list_transactions(api_request *r);
/* /v1/accounts/{number}/balance and /v1/accounts/{number}/entries (any method: answers 404 for
 * another path under /v1/accounts/, 405 for a method other than GET). */
void api_account_reads(api_request *r);

/* Produces a command; on return the request is suspended and the delivery report answers it. */
void api_produce_command(api_request *r, const char *key, void *payload, size_t len,
                         const char *transaction_id, const char *traceparent);

/* Authenticates the request. Returns 0 and fills *caller, or -1 with *p set (401/403/503).
 * The tenant the request names (Host, X-Tenant) must be the credential's; a system admin's token
 * is refused (403) unless the route allows system roles (api_route_roles). */
int api_authenticate(api_request *r, api_caller *caller, lg_problem *p);

/* Forgets a cached API key (by its hash), so that a revocation applies at once in this process
 * (other processes reload a key within 10 seconds). */
void api_auth_forget_key(const char *key_hash);

/* What api_request_tenant found. */
enum { API_TENANT_NONE = 0, API_TENANT_FOUND = 1, API_TENANT_UNKNOWN = 2 };

/* The tenant a request names before anyone is authenticated (a login): by the first label of its
 * Host (a tenant's subdomain, else its slug; an IP address or a single label names none) and by
 * X-Tenant (a slug). Returns API_TENANT_FOUND with *out, API_TENANT_NONE when the request names
 * no tenant, API_TENANT_UNKNOWN when X-Tenant names no tenant, or -1 with *p (403
 * /problems/tenant-mismatch when Host and X-Tenant name different tenants, 503). */
int api_request_tenant(api_request *r, lg_tenant *out, lg_problem *p);

/* Reads the login settings (LEDGER_LOGIN_*, LEDGER_TOKEN_TTL_S, LEDGER_SYSTEM_LOGIN_*) and
 * prepares the decoy password hash; call once at start-up. Returns 0 or -1 with err. */
int api_login_configure(char *err, size_t err_size);

/* A request header, or NULL. */
const char *api_header(api_request *r, const char *name);

#endif
