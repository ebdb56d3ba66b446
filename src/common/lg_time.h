/*
 * Timestamps: RFC 3339 text at the API edge, microseconds since the Unix epoch (UTC) inside, and
 * a text form that PostgreSQL reads back into a timestamptz without loss. Years 0001 to 9999,
 * the range both RFC 3339 and the text forms can express.
 */
#ifndef LG_TIME_H
#define LG_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Enough for "9999-12-31 23:59:59.999999+00" and a NUL. */
#define LG_TIME_PG_STRLEN 40

/*
 * Parses an RFC 3339 date-time: "2026-11-25T10:15:30Z", "2026-11-25T10:15:30.25+01:00".
 * The offset is required; 't' and 'z' may be lower case; seconds are 00 to 59 (no leap second).
 * A fraction of 1 to 9 digits is rounded up to the next microsecond, so that "at or after" and
 * "before" comparisons against stored microseconds stay exact. A space in place of the offset's
 * '+' is read as '+': a '+' in a URL query string decodes to a space. Text longer than 40
 * characters is refused. Returns 0 and sets *epoch_us, or -1 with a readable reason in err
 * (*epoch_us untouched).
 */
int lg_time_parse_rfc3339(const char *text, int64_t *epoch_us, char *err, size_t err_size);

/*
 * Formats epoch microseconds as "YYYY-MM-DD HH:MM:SS.ffffff+00", which PostgreSQL reads as the
 * exact same timestamptz. buf must hold LG_TIME_PG_STRLEN bytes. Returns buf, or NULL when the
 * instant lies outside the years 0001 to 9999.
 */
char *lg_time_format_pg(int64_t epoch_us, char *buf, size_t buf_size);

#endif
