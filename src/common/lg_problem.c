#include "lg_problem.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Length of the valid UTF-8 sequence at s (1 to 4), or 0 when s does not start one: a stray
 * continuation byte, an overlong form, a surrogate, a code point above U+10FFFF or a sequence
 * cut short (by the end of the text, or by snprintf truncating it).
 */
static size_t utf8_sequence(const unsigned char *s)
{
    size_t n;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        cp = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        cp = s[0] & 0x0Fu;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Replaces every byte that is not part of valid UTF-8 with '?'. A problem's detail may quote
 * what the client sent (jansson's error text does, a field name may be cut at 64 bytes), and a
 * JSON string must be UTF-8: without this the detail would vanish from the problem+json. */
static void utf8_scrub(char *text)
{
    unsigned char *s = (unsigned char *)text;
    while (*s != '\0') {
        size_t n = utf8_sequence(s);
        if (n == 0) {
            *s++ = '?';
            continue;
        }
        s += n;
    }
}

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
    utf8_scrub(p->field);
    utf8_scrub(p->detail);
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
