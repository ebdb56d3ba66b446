/*
 * RFC 3339 and epoch microseconds. The calendar arithmetic is the proleptic Gregorian calendar
 * of RFC 3339 and PostgreSQL (days_from_civil/civil_from_days after Howard Hinnant's
 * "chrono-compatible low-level date algorithms"), in integers, with no dependence on the time
 * zone of the process.
 */
#include "lg_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define US_PER_S  INT64_C(1000000)
#define S_PER_DAY INT64_C(86400)

static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z */
static int64_t min_us(void)
{
    return days_from_civil(1, 1, 1) * S_PER_DAY * US_PER_S;
}

static int64_t max_us(void)
{
    return days_from_civil(10000, 1, 1) * S_PER_DAY * US_PER_S - 1;
}

static int fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL && err_size > 0) {
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Reads exactly n ASCII digits at s. Returns the number or -1. */
static int read_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int lg_time_parse_rfc3339(const char *text, int64_t *epoch_us, char *err, size_t err_size)
{
    static const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p;
    int year, month, day, hour, minute, second, off_h = 0, off_m = 0, sign = 0;
    int64_t frac_ns = 0, seconds, us;
    size_t len;

    if (text == NULL)
        return fail(err, err_size, "no timestamp");
    len = strnlen(text, 41);
    if (len > 40)
        return fail(err, err_size, "the timestamp is longer than 40 characters");
    /* YYYY-MM-DDThh:mm:ss is 19 characters, the shortest offset ("Z") one more. */
    if (len < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
        text[13] != ':' || text[16] != ':')
        return fail(err, err_size, "not an RFC 3339 date-time such as 2026-11-25T10:15:30Z");
    year = read_digits(text, 4);
    month = read_digits(text + 5, 2);
    day = read_digits(text + 8, 2);
    hour = read_digits(text + 11, 2);
    minute = read_digits(text + 14, 2);
    second = read_digits(text + 17, 2);
    if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0)
        return fail(err, err_size, "not an RFC 3339 date-time such as 2026-11-25T10:15:30Z");
    if (year < 1)
        return fail(err, err_size, "the year must be 0001 to 9999");
    if (month < 1 || month > 12)
        return fail(err, err_size, "the month must be 01 to 12");
    if (day < 1 || day > month_days[month - 1] + (month == 2 && is_leap(year)))
        return fail(err, err_size, "%04d-%02d has no day %02d", year, month, day);
    if (hour > 23 || minute > 59 || second > 59)
        return fail(err, err_size, "the time of day must be 00:00:00 to 23:59:59");
    p = text + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (p[n] >= '0' && p[n] <= '9')
            n++;
        if (n == 0 || n > 9)
            return fail(err, err_size, "the fraction of a second must have 1 to 9 digits");
        for (int i = 0; i < 9; i++)
            frac_ns = frac_ns * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-' || *p == ' ') && strlen(p) == 6 && p[3] == ':') {
        sign = *p == '-' ? -1 : 1;
        off_h = read_digits(p + 1, 2);
        off_m = read_digits(p + 4, 2);
        if (off_h < 0 || off_m < 0 || off_h > 23 || off_m > 59)
            return fail(err, err_size, "the offset must be Z or +hh:mm / -hh:mm");
    } else {
        return fail(err, err_size,
                    "the time zone offset is missing or malformed: end with Z or +hh:mm / -hh:mm");
    }
    seconds = days_from_civil(year, month, day) * S_PER_DAY + hour * 3600 + minute * 60 + second -
              (int64_t)sign * (off_h * 3600 + off_m * 60);
    us = seconds * US_PER_S + (frac_ns + 999) / 1000;
    if (us < min_us() || us > max_us())
        return fail(err, err_size, "the instant lies outside the years 0001 to 9999 (UTC)");
    *epoch_us = us;
    return 0;
}

char *lg_time_format_pg(int64_t epoch_us, char *buf, size_t buf_size)
{
    int64_t secs, rem, days, sod, year;
    int month, day;
    if (epoch_us < min_us() || epoch_us > max_us() || buf_size < LG_TIME_PG_STRLEN)
        return NULL;
    secs = epoch_us / US_PER_S;
    rem = epoch_us % US_PER_S;
    if (rem < 0) {
        rem += US_PER_S;
        secs--;
    }
    days = secs / S_PER_DAY;
    sod = secs % S_PER_DAY;
    if (sod < 0) {
        sod += S_PER_DAY;
        days--;
    }
    civil_from_days(days, &year, &month, &day);
    snprintf(buf, buf_size, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", (int)year, month, day,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)rem);
    return buf;
}
