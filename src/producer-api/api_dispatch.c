/*
 * Route tables and what every route shares: authentication, the role check, path parameters,
 * and the audit log. Each module of the API exports a table of api_route_def (ending with an
 * entry whose method is NULL) and lists it in api_route_tables below.
 */
#include "api.h"
#include "api_route_match.h"

#include "lg_db.h"
#include "lg_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const api_route_def *const api_route_tables[] = {
    api_routes_auth,
    api_routes_apikeys,
    api_routes_users,
    api_routes_system,
    api_routes_customers,
    api_routes_accounts,
    NULL,
};

unsigned api_role_bit(const char *name, int system)
{
    static const struct {
        const char *name;
        unsigned tenant_bit, system_bit;
    } roles[] = {
        {"CUSTOMER", API_ROLE_CUSTOMER, 0},
        {"TELLER", API_ROLE_TELLER, 0},
        {"MANAGER", API_ROLE_MANAGER, 0},
        {"SUPER_ADMIN", API_ROLE_SUPER_ADMIN, API_ROLE_SYSTEM_SUPER_ADMIN},
        {"ADMIN", 0, API_ROLE_SYSTEM_ADMIN},
        {"SUPPORT", 0, API_ROLE_SYSTEM_SUPPORT},
    };
    for (size_t i = 0; name != NULL && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(name, roles[i].name) == 0)
            return system ? roles[i].system_bit : roles[i].tenant_bit;
    return 0;
}

const char *api_client_ip(api_request *r, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (ci != NULL && ci->client_addr != NULL && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
                  buf, (socklen_t)size);
    return buf[0] != '\0' ? buf : NULL;
}

int api_audit(api_request *r, const api_caller *caller, PGconn *conn, const char *action,
              const char *resource, const char *resource_id, json_t *changes, json_t *metadata,
              char *err, size_t err_size)
{
    char ip[64], ua[512];
    const char *user_agent = api_header(r, "User-Agent");
    char *changes_text = changes != NULL ? json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS)
                                         : NULL;
    char *metadata_text;
    json_t *meta = metadata != NULL ? json_deep_copy(metadata) : json_object();
    PGresult *res;

    /* The request id ties the row to the logs. */
    json_object_set_new(meta, "requestId", json_string(r->request_id));
    metadata_text = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(meta);
    snprintf(ua, sizeof ua, "%s", user_agent != NULL ? user_agent : "");
    res = lg_db_query(conn,
                      "INSERT INTO audit_logs (user_id, user_email, ip_address, user_agent,"
                      " action, resource, resource_id, changes, metadata)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)",
                      9,
                      (const char *[]){caller->user_id[0] != '\0' ? caller->user_id : NULL,
                                       caller->email[0] != '\0' ? caller->email : NULL,
                                       api_client_ip(r, ip, sizeof ip),
                                       user_agent != NULL ? ua : NULL, action, resource,
                                       resource_id, changes_text, metadata_text},
                      err, err_size);
    free(changes_text);
    free(metadata_text);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* Does path match pattern? Fills params with the "{}" segments (NUL-terminated copies in buf). */
static int match(const char *pattern, const char *path, char *buf, size_t buf_size,
                 const char **params, int *n_params)
{
    return api_route_match(pattern, path, buf, buf_size, params, API_MAX_PATH_PARAMS, n_params);
}

unsigned api_route_roles(api_request *r)
{
    char buf[sizeof r->url];
    const char *params[API_MAX_PATH_PARAMS + 1];
    int n_params;
    for (size_t t = 0; api_route_tables[t] != NULL; t++)
        for (const api_route_def *d = api_route_tables[t]; d->method != NULL; d++)
            if (strcmp(d->method, r->method) == 0 &&
                match(d->pattern, r->url, buf, sizeof buf, params, &n_params))
                return d->roles;
    return 0;
}

/* Tries the route tables. Returns 1 when the request was answered (or suspended). */
int api_dispatch(api_request *r);
int api_dispatch(api_request *r)
{
    char buf[sizeof r->url];
    const char *params[API_MAX_PATH_PARAMS + 1] = {NULL};
    const api_route_def *found = NULL;
    int path_known = 0, n_params = 0;
    char allowed[64] = "";
    api_caller caller;
    lg_problem p;

    for (size_t t = 0; api_route_tables[t] != NULL && found == NULL; t++)
        for (const api_route_def *d = api_route_tables[t]; d->method != NULL; d++) {
            if (!match(d->pattern, r->url, buf, sizeof buf, params, &n_params))
                continue;
            path_known = 1;
            if (strcmp(d->method, r->method) == 0) {
                found = d;
                break;
            }
            {
                size_t used = strlen(allowed);
                snprintf(allowed + used, sizeof allowed - used, "%s%s",
                         used > 0 ? ", " : "", d->method);
            }
        }
    if (found == NULL && !path_known)
        return 0;
    if (found == NULL) {
        lg_problem_set(&p, 405, "/problems/method-not-allowed", "Method not allowed", NULL,
                       "this resource answers %s", allowed);
        api_respond_problem(r, &p);
        return 1;
    }
    memset(&caller, 0, sizeof caller);
    if (found->roles != 0) {
        if (api_authenticate(r, &caller, &p) != 0) {
            api_respond_problem(r, &p);
            return 1;
        }
        if ((caller.role_bit & found->roles) == 0) {
            lg_problem_set(&p, 403, "/problems/forbidden", "Forbidden", NULL,
                           "the role %s may not do this", caller.role);
            api_respond_problem(r, &p);
            return 1;
        }
    }
    params[n_params] = NULL;
    found->handler(r, &caller, params);
    return 1;
}
