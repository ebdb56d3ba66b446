/* Request bodies of the management endpoints (api_body.h). */
#include "api_body.h"

#include <string.h>

/* A member name fit for a message: printable ASCII, at most 40 characters. */
static void printable(char *out, size_t out_size, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 1 < out_size && n < 40; s++)
        out[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
    out[n] = '\0';
}

json_t *api_body_strings(api_request *r, api_body_field *fields, lg_problem *p)
{
    const char *content_type = api_header(r, "Content-Type");
    json_error_t jerr;
    json_t *root, *value;
    const char *key;
    char name[48];

    for (api_body_field *f = fields; f->name != NULL; f++)
        f->value = NULL;
    if (content_type == NULL || strncmp(content_type, "application/json", 16) != 0) {
        lg_problem_set(p, 415, "/problems/unsupported-media-type", "Unsupported media type", NULL,
                       "send the body as Content-Type: application/json");
        return NULL;
    }
    root = json_loadb(r->body != NULL ? r->body : "", r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        lg_problem_set(p, 400, "/problems/invalid-json", "Invalid JSON", NULL,
                       "the body must be one JSON object, each member once");
        return NULL;
    }
    json_object_foreach(root, key, value)
    {
        api_body_field *f = fields;
        while (f->name != NULL && strcmp(f->name, key) != 0)
            f++;
        printable(name, sizeof name, key);
        if (f->name == NULL) {
            lg_problem_set(p, 422, "/problems/unknown-field", "Unknown field", name,
                           "the field \"%s\" is not part of this request", name);
            goto refuse;
        }
        if (json_is_null(value))
            continue;
        if (!json_is_string(value) || json_string_length(value) == 0 ||
            json_string_length(value) > f->max_len ||
            strlen(json_string_value(value)) != json_string_length(value)) {
            lg_problem_set(p, 422, "/problems/invalid-field", "Invalid field", f->name,
                           "%s must be a string of 1 to %zu bytes", f->name, f->max_len);
            goto refuse;
        }
        f->value = json_string_value(value);
    }
    for (api_body_field *f = fields; f->name != NULL; f++)
        if (f->required && f->value == NULL) {
            lg_problem_set(p, 422, "/problems/missing-field", "Missing field", f->name,
                           "%s is required", f->name);
            goto refuse;
        }
    return root;
refuse:
    json_decref(root);
    return NULL;
}
