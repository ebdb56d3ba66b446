/*
 * Money parsing and formatting. See lg_money.h.
 *
 * Invariant: every amount that leaves this file lies within +/- LG_MONEY_MAX minor units, the
 * range of PostgreSQL NUMERIC(15,2). Parsing never forms a value above that bound, so it cannot
 * overflow int64 whatever the input: the integer part is refused as soon as it passes
 * LG_MONEY_MAX / 100, before the next multiplication.
 */
#include "lg_money.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Longest text looked at: generous for leading zeros, small enough to bound the work. */
#define MONEY_TEXT_MAX 64

static int money_fail(char *err, size_t err_size, const char *reason)
{
    if (err != NULL && err_size > 0)
        snprintf(err, err_size, "%s", reason);
    return -1;
}

static int is_ascii_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Names the first character that is not part of a decimal amount. */
static int money_fail_at(char *err, size_t err_size, const char *p)
{
    unsigned char c = (unsigned char)*p;

    if (c == 'e' || c == 'E')
        return money_fail(err, err_size, "amount has an exponent; write it out in digits");
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
        return money_fail(err, err_size, "amount contains whitespace");
    if (c == '+' || c == '-')
        return money_fail(err, err_size, "amount has a sign; amounts are unsigned");
    if (c == ',')
        return money_fail(err, err_size,
                          "amount contains ','; use '.' as the decimal point and no grouping");
    if (c == '.')
        return money_fail(err, err_size, "amount has more than one decimal point");
    if (c >= 0x80)
        return money_fail(err, err_size,
                          "amount contains a non-ASCII character; only digits 0-9 are accepted");
    if (c < 0x20 || c == 0x7f)
        return money_fail(err, err_size, "amount contains a control character");
    if (err != NULL && err_size > 0)
        snprintf(err, err_size, "amount contains an unexpected character '%c'", (char)c);
    return -1;
}

static int money_parse_text(const char *text, int allow_minus, int64_t *minor_units, char *err,
                            size_t err_size)
{
    const int64_t max_units = LG_MONEY_MAX / 100; /* 9999999999999 */
    const char *p = text;
    int negative = 0;
    int64_t units = 0;
    int64_t cents = 0;
    int int_digits = 0;
    int frac_digits = 0;

    if (text == NULL)
        return money_fail(err, err_size, "amount is missing");
    if (strnlen(text, MONEY_TEXT_MAX + 1) > MONEY_TEXT_MAX)
        return money_fail(err, err_size, "amount is longer than 64 characters");
    if (*p == '\0')
        return money_fail(err, err_size, "amount is empty");

    if (*p == '-' && allow_minus) {
        negative = 1;
        p++;
    }
    if (*p == '.')
        return money_fail(err, err_size,
                          "amount has no digits before the decimal point; write \"0.50\", not "
                          "\".50\"");

    while (is_ascii_digit(*p)) {
        units = units * 10 + (*p - '0');
        if (units > max_units)
            return money_fail(err, err_size,
                              "amount is above the maximum 9999999999999.99 (NUMERIC(15,2))");
        int_digits++;
        p++;
    }
    if (int_digits == 0) {
        if (*p == '\0')
            return money_fail(err, err_size, "amount has no digits");
        return money_fail_at(err, err_size, p);
    }

    if (*p == '.') {
        p++;
        while (is_ascii_digit(*p)) {
            if (frac_digits == 2)
                return money_fail(err, err_size, "amount has more than two fraction digits");
            cents = cents * 10 + (*p - '0');
            frac_digits++;
            p++;
        }
        if (frac_digits == 0 && *p == '\0')
            return money_fail(err, err_size,
                              "amount has no digits after the decimal point; write \"5.00\" or "
                              "\"5\", not \"5.\"");
        if (frac_digits == 0)
            return money_fail_at(err, err_size, p);
        if (frac_digits == 1)
            cents *= 10;
    }
    if (*p != '\0')
        return money_fail_at(err, err_size, p);

    /* units <= LG_MONEY_MAX / 100 and cents <= 99, so this stays within LG_MONEY_MAX. */
    *minor_units = negative ? -(units * 100 + cents) : units * 100 + cents;
    return 0;
}

int lg_money_parse(const char *text, int64_t *minor_units, char *err, size_t err_size)
{
    return money_parse_text(text, 0, minor_units, err, err_size);
}

int lg_money_parse_signed(const char *text, int64_t *minor_units, char *err, size_t err_size)
{
    return money_parse_text(text, 1, minor_units, err, err_size);
}

char *lg_money_format(int64_t minor_units, char *buf, size_t buf_size)
{
    /* Magnitude in uint64 so that INT64_MIN does not overflow on negation. */
    uint64_t magnitude =
        minor_units < 0 ? (uint64_t)0 - (uint64_t)minor_units : (uint64_t)minor_units;

    if (buf == NULL || buf_size == 0)
        return buf;
    snprintf(buf, buf_size, "%s%" PRIu64 ".%02u", minor_units < 0 ? "-" : "", magnitude / 100,
             (unsigned)(magnitude % 100));
    return buf;
}

int lg_money_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t sum;

    if (__builtin_add_overflow(a, b, &sum))
        return -1;
    if (sum > LG_MONEY_MAX || sum < -LG_MONEY_MAX)
        return -1;
    *out = sum;
    return 0;
}
