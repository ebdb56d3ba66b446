/* The pure parts of request routing (api_route_match.h). */
#include "api_route_match.h"

#include <arpa/inet.h>
#include <string.h>

int api_route_match(const char *pattern, const char *path, char *buf, size_t buf_size,
                    const char **params, int max_params, int *n_params)
{
    size_t used = 0;
    *n_params = 0;
    while (*pattern != '\0' && *path != '\0') {
        if (pattern[0] == '{' && pattern[1] == '}') {
            size_t len = strcspn(path, "/");
            if (len == 0 || *n_params == max_params || used + len + 1 > buf_size)
                return 0;
            memcpy(buf + used, path, len);
            buf[used + len] = '\0';
            params[(*n_params)++] = buf + used;
            used += len + 1;
            path += len;
            pattern += 2;
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

int api_host_label(const char *host, char label[64])
{
    char name[256];
    size_t n, first;
    struct in_addr a4;

    if (host == NULL || host[0] == '[') /* absent, or an IPv6 literal */
        return 0;
    n = strcspn(host, ":");
    if (n == 0 || n >= sizeof name)
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    if (inet_pton(AF_INET, name, &a4) == 1)
        return 0;
    first = strcspn(name, ".");
    if (name[first] != '.' || name[first + 1] == '\0' || first == 0 || first > 63)
        return 0;
    for (size_t i = 0; i < first; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
        label[i] = c;
    }
    label[first] = '\0';
    return 1;
}

int api_bearer_parse(const char *auth, size_t max_len, const char **credential)
{
    size_t n;
    *credential = NULL;
    if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
        return API_BEARER_NONE;
    n = strlen(auth + 7);
    if (n == 0 || n > max_len)
        return API_BEARER_NONE;
    *credential = auth + 7;
    return strncmp(*credential, "lk_", 3) == 0 ? API_BEARER_API_KEY : API_BEARER_TOKEN;
}
