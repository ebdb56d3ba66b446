#include "lg_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *lg_config_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v != NULL && v[0] != '\0') ? v : def;
}

int lg_config_int(const char *name, long def, long min, long max, long *out, char *err,
                  size_t err_size)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n;

    if (v == NULL || v[0] == '\0') {
        *out = def;
        return 0;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        snprintf(err, err_size, "%s must be an integer between %ld and %ld, not \"%s\"", name,
                 min, max, v);
        return -1;
    }
    *out = n;
    return 0;
}

const char *lg_config_require(const char *name, char *err, size_t err_size)
{
    const char *v = lg_config_str(name, NULL);
    if (v == NULL)
        snprintf(err, err_size, "%s is not set", name);
    return v;
}
