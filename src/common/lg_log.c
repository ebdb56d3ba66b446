#include "lg_log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *log_program = "ledger";
static lg_log_level log_min_level = LG_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void lg_log_init(const char *program)
{
    const char *lvl = getenv("LEDGER_LOG_LEVEL");
    log_program = program;
    if (lvl == NULL)
        return;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(lvl, level_names[i]) == 0)
            log_min_level = (lg_log_level)i;
}

int lg_log_enabled(lg_log_level level)
{
    return level >= log_min_level;
}

/* Writes one line: time, level, program, msg, then the string fields and the JSON fields
 * (stolen). */
static void emit(lg_log_level level, const char *msg, const char *const *fields, json_t *extra)
{
    char when[96];
    struct timespec ts;
    struct tm tm;
    json_t *line;
    char *text;
    const char *key;
    json_t *value;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    line = json_object();
    json_object_set_new(line, "time", json_string(when));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "program", json_string(log_program));
    json_object_set_new(line, "msg", json_string(msg));
    for (size_t i = 0; fields != NULL && fields[i] != NULL && fields[i + 1] != NULL; i += 2)
        json_object_set_new(line, fields[i], json_string(fields[i + 1]));
    if (json_is_object(extra)) {
        json_object_foreach(extra, key, value)
        {
            json_object_set(line, key, value);
        }
    }
    json_decref(extra);
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    if (text == NULL)
        return;
    pthread_mutex_lock(&log_lock);
    fputs(text, stderr);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    free(text);
}

void lg_log_kv(lg_log_level level, const char *const *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (level < log_min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, fields, NULL);
}

void lg_log_json(lg_log_level level, json_t *fields, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (level < log_min_level) {
        json_decref(fields);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, NULL, fields);
}
