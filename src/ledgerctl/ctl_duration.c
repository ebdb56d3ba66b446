/* Command-line durations: see ctl_duration.h. */
#include "ctl_duration.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_duration_parse(const char *text, char *interval, size_t interval_size)
{
    static const struct {
        char unit;
        const char *name;
        long max;
    } units[] = {
        {'y', "years", 200}, {'m', "months", 2400}, {'d', "days", 73000}, {'h', "hours", 1752000}};
    char digits[16];
    char *end;
    size_t len;
    long v;
    if (text == NULL)
        return -1;
    len = strlen(text);
    if (len < 2 || len > 10 || text[0] == '0')
        return -1;
    for (size_t i = 0; i + 1 < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return -1;
    memcpy(digits, text, len - 1);
    digits[len - 1] = '\0';
    errno = 0;
    v = strtol(digits, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++)
        if (text[len - 1] == units[u].unit) {
            if (v > units[u].max)
                return -1;
            snprintf(interval, interval_size, "%ld %s", v, units[u].name);
            return 0;
        }
    return -1;
}
