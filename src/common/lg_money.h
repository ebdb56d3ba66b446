/*
 * Money: decimal strings at the edges, int64 minor units (cents) inside, NUMERIC(15,2) in
 * PostgreSQL. Never a float.
 *
 * NUMERIC(15,2) holds at most 13 integer digits and 2 fraction digits, so every stored amount
 * lies within +/- LG_MONEY_MAX minor units (9999999999999.99).
 */
#ifndef LG_MONEY_H
#define LG_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define LG_MONEY_MAX INT64_C(999999999999999)
/* Enough for "-9999999999999.99" and a NUL, with room to spare. */
#define LG_MONEY_STRLEN 32

/*
 * Parses an unsigned decimal amount: ASCII digits, an optional '.' and one or two fraction
 * digits ("12", "12.5", "12.50", "0.01"). Refuses signs, spaces, exponents, more than two fraction
 * digits, a lone '.', leading '.', non-ASCII digits, and anything above LG_MONEY_MAX.
 * Leading zeros are accepted ("007.10"). Zero parses as 0: callers that need a positive amount
 * check that themselves. Text longer than 64 characters is refused (bounds the work).
 * Returns 0 and sets *minor_units, or -1 with a readable reason in err (*minor_units untouched).
 */
int lg_money_parse(const char *text, int64_t *minor_units, char *err, size_t err_size);

/*
 * Parses the text form of a PostgreSQL NUMERIC(15,2) value, which may be negative ("-12.30").
 * Same rules as lg_money_parse otherwise. Returns 0 or -1.
 */
int lg_money_parse_signed(const char *text, int64_t *minor_units, char *err, size_t err_size);

/*
 * Formats minor units as a decimal string with exactly two fraction digits ("1250.75", "-0.05").
 * buf must hold LG_MONEY_STRLEN bytes. Returns buf.
 */
char *lg_money_format(int64_t minor_units, char *buf, size_t buf_size);

/* Adds two amounts; returns -1 if the result leaves +/- LG_MONEY_MAX (a NUMERIC(15,2) overflow).
 * *out is written only on success. */
int lg_money_add(int64_t a, int64_t b, int64_t *out);

#endif
