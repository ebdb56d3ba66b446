/*
 * Configuration from the environment. Every setting has a LEDGER_* variable and a default;
 * docs/CONFIGURATION.md lists them.
 */
#ifndef LG_CONFIG_H
#define LG_CONFIG_H

#include <stddef.h>

/* The value of an environment variable, or def when unset or empty. Borrowed. */
const char *lg_config_str(const char *name, const char *def);

/* An integer setting within [min, max]; def when unset. Returns -1 and writes err when the value
 * is not an integer in range. */
int lg_config_int(const char *name, long def, long min, long max, long *out, char *err,
                  size_t err_size);

/* A required setting: returns NULL and writes err when unset. */
const char *lg_config_require(const char *name, char *err, size_t err_size);

#endif
