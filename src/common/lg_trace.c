#include "lg_trace.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static int lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return 0;
    return 1;
}

int lg_traceparent_parse(const char *text, lg_trace *out)
{
    if (text == NULL || strlen(text) != LG_TRACEPARENT_LEN || text[2] != '-' || text[35] != '-' ||
        text[52] != '-')
        return 0;
    if (strncmp(text, "00", 2) != 0 || !lower_hex(text + 3, 32) || !lower_hex(text + 36, 16) ||
        !lower_hex(text + 53, 2) || all_zero(text + 3, 32) || all_zero(text + 36, 16))
        return 0;
    if (out != NULL) {
        memcpy(out->trace_id, text + 3, 32);
        out->trace_id[32] = '\0';
        memcpy(out->parent_id, text + 36, 16);
        out->parent_id[16] = '\0';
        memcpy(out->flags, text + 53, 2);
        out->flags[2] = '\0';
    }
    return 1;
}

/* Random bytes as lowercase hex, never all zeros (out has room for 2 * n + 1). */
static void random_hex(char *out, size_t n)
{
    unsigned char bytes[16];
    do {
        randombytes_buf(bytes, n);
        sodium_bin2hex(out, 2 * n + 1, bytes, n);
    } while (all_zero(out, 2 * n));
}

void lg_trace_start(const char *incoming_traceparent, lg_trace *out)
{
    memset(out, 0, sizeof *out);
    if (!lg_traceparent_parse(incoming_traceparent, out)) {
        memset(out, 0, sizeof *out);
        random_hex(out->trace_id, 16);
        snprintf(out->flags, sizeof out->flags, "01");
    }
    random_hex(out->span_id, 8);
    snprintf(out->traceparent, sizeof out->traceparent, "00-%s-%s-%s", out->trace_id, out->span_id,
             out->flags);
}

int lg_request_id_valid(const char *id)
{
    size_t n;
    if (id == NULL)
        return 0;
    n = strlen(id);
    if (n == 0 || n > LG_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x21 || id[i] > 0x7e)
            return 0;
    return 1;
}

void lg_request_id_new(char *out)
{
    random_hex(out, 16);
}
