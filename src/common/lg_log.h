/*
 * Structured logs: one JSON object per line on stderr, with time, level, the program name and a
 * message, plus optional key/value fields. Never log a secret (password, key, token).
 */
#ifndef LG_LOG_H
#define LG_LOG_H

typedef enum { LG_LOG_DEBUG = 0, LG_LOG_INFO, LG_LOG_WARN, LG_LOG_ERROR } lg_log_level;

/* Sets the program name and the minimum level (from LEDGER_LOG_LEVEL: debug|info|warn|error). */
void lg_log_init(const char *program);

/* Logs msg (printf-style) with extra string fields given as NULL-terminated key, value pairs
 * before the format: lg_log_kv(LG_LOG_INFO, (const char *[]){"tenant", id, NULL}, "applied %d", n). */
void lg_log_kv(lg_log_level level, const char *const *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs msg (printf-style) with the members of fields (a JSON object, stolen; may be NULL) as
 * extra fields of any JSON type: numbers stay numbers (a request's status and duration). */
struct json_t;
void lg_log_json(lg_log_level level, struct json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Is level logged (at or above LEDGER_LOG_LEVEL)? To skip building fields for nothing. */
int lg_log_enabled(lg_log_level level);

#define lg_log_info(...)  lg_log_kv(LG_LOG_INFO, NULL, __VA_ARGS__)
#define lg_log_warn(...)  lg_log_kv(LG_LOG_WARN, NULL, __VA_ARGS__)
#define lg_log_error(...) lg_log_kv(LG_LOG_ERROR, NULL, __VA_ARGS__)
#define lg_log_debug(...) lg_log_kv(LG_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
