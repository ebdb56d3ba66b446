/*
 * Durations on ledgerctl's command line (`archive --older-than 7y`): a whole number from 1 and
 * one unit, y (years), m (months), d (days) or h (hours); nothing else - no sign, no leading
 * zero, no fraction, no space, no second unit.
 */
#ifndef LEDGERCTL_CTL_DURATION_H
#define LEDGERCTL_CTL_DURATION_H

#include <stddef.h>

/* Parses text; on success writes a PostgreSQL interval ("7 years", "18 months", "30 days",
 * "12 hours") into interval and returns 0. Returns -1 (interval untouched) for anything else,
 * including NULL and values above 200 years (2400 months, 73000 days, 1752000 hours). */
int ctl_duration_parse(const char *text, char *interval, size_t interval_size);

#endif
