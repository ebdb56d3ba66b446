#include "lg_problem.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lg_problem_set(lg_problem *p, int status, const char *type, const char *title,
                   const char *field, const char *fmt, ...)
{
    va_list ap;
    p->status = status;
    p->type = type;
    p->title = title;
    snprintf(p->field, sizeof p->field, "%s", field != NULL ? field : "");
    va_start(ap, fmt);
    vsnprintf(p->detail, sizeof p->detail, fmt, ap);
    va_end(ap);
    return -1;
}

char *lg_problem_json(const lg_problem *p, const char *instance)
{
    json_t *o = json_object();
    char *text;
    json_object_set_new(o, "type", json_string(p->type));
    json_object_set_new(o, "title", json_string(p->title));
    json_object_set_new(o, "status", json_integer(p->status));
    json_object_set_new(o, "detail", json_string(p->detail));
    if (p->field[0] != '\0')
        json_object_set_new(o, "field", json_string(p->field));
    if (instance != NULL)
        json_object_set_new(o, "instance", json_string(instance));
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}
