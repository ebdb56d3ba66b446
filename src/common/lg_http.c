#include "lg_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lg_http {
    struct MHD_Daemon *daemon;
    lg_http_handler handler;
    void *arg;
    unsigned short port;
};

int lg_http_parse_listen(const char *listen, char *host, size_t host_size, unsigned short *port,
                         char *err, size_t err_size)
{
    const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
    char *end = NULL;
    long p;
    struct in_addr probe;
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= host_size) {
        snprintf(err, err_size, "\"%s\" is not host:port", listen != NULL ? listen : "");
        return -1;
    }
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || end == NULL || *end != '\0' || p < 0 || p > 65535) {
        snprintf(err, err_size, "\"%s\": the port must be 0 to 65535", listen);
        return -1;
    }
    snprintf(host, host_size, "%.*s", (int)(colon - listen), listen);
    if (inet_pton(AF_INET, host, &probe) != 1) {
        snprintf(err, err_size, "\"%s\": \"%s\" is not an IPv4 address", listen, host);
        return -1;
    }
    *port = (unsigned short)p;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    lg_http *h = cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *body = NULL;
    const char *content_type = "text/plain; charset=utf-8";
    int status;
    (void)version;
    (void)upload_data;

    if (*con_cls == NULL) {
        *con_cls = h; /* the headers are in; answer once the (ignored) body is */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = strdup("use GET\n");
    } else {
        status = h->handler(method, url, &body, &content_type, h->arg);
    }
    resp = MHD_create_response_from_buffer(
        body != NULL ? strlen(body) : 0, body != NULL ? body : (void *)(uintptr_t) "",
        body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(connection, (unsigned int)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

lg_http *lg_http_start(const char *listen, lg_http_handler handler, void *arg, char *err,
                       size_t err_size)
{
    char host[64];
    unsigned short port;
    struct sockaddr_in addr;
    const union MHD_DaemonInfo *info;
    lg_http *h;

    if (lg_http_parse_listen(listen, host, sizeof host, &port, err, err_size) != 0)
        return NULL;
    h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    h->handler = handler;
    h->arg = arg;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL,
                                 NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
    if (h->daemon == NULL) {
        snprintf(err, err_size, "cannot listen on %s", listen);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info != NULL && info->port != 0 ? info->port : port;
    return h;
}

unsigned short lg_http_port(const lg_http *h)
{
    return h != NULL ? h->port : 0;
}

void lg_http_stop(lg_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
