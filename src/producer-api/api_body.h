/*
 * Request bodies of the management endpoints: one JSON object whose members are all known
 * strings. Whatever else arrives is refused with the problem that names it, before a handler
 * looks at a value.
 */
#ifndef LG_API_BODY_H
#define LG_API_BODY_H

#include "api.h"

#include <jansson.h>
#include <stddef.h>

typedef struct {
    const char *name;  /* the member; a NULL name ends the list */
    int required;      /* absent or null is 422 /problems/missing-field */
    size_t max_len;    /* longest value in bytes */
    const char *value; /* out: borrowed from the returned root; NULL when absent or null */
} api_body_field;

/*
 * Reads r's body as a JSON object of the given string members. Returns the parsed root (the
 * caller json_decref()s it; the values borrow from it), or NULL with *p: 415
 * /problems/unsupported-media-type when the body is not sent as application/json, 400
 * /problems/invalid-json when it is not one JSON object (or repeats a member), 422
 * /problems/unknown-field for a member not in fields, 422 /problems/invalid-field for a value
 * that is not a string, is empty, holds a NUL or is longer than max_len, 422
 * /problems/missing-field for a required member that is absent or null.
 */
json_t *api_body_strings(api_request *r, api_body_field *fields, lg_problem *p);

#endif
