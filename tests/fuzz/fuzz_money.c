/*
 * Fuzz target: money parsing and formatting (src/common/lg_money.c).
 *
 * Properties, besides "no crash, no sanitizer report":
 *   - an accepted amount lies within [0, LG_MONEY_MAX] (signed: +/- LG_MONEY_MAX);
 *   - parse -> format -> parse gives the same minor units, and the formatted text has exactly
 *     two fraction digits;
 *   - the unsigned parser accepts a text exactly when the signed one does and the text has no
 *     '-' sign, with the same value;
 *   - a refusal leaves the output untouched and says why;
 *   - lg_money_add never leaves the range and agrees with exact 128-bit arithmetic.
 */
#include "fuzz_common.h"

#include "lg_money.h"

#include <inttypes.h>

static void check_round_trip(int64_t v, int allow_negative)
{
    char text[LG_MONEY_STRLEN], err[128];
    int64_t again = INT64_MIN;
    const char *dot;

    lg_money_format(v, text, sizeof text);
    dot = strchr(text, '.');
    FUZZ_ASSERT(dot != NULL && strlen(dot) == 3, "format(%" PRId64 ") = \"%s\"", v, text);
    FUZZ_ASSERT(lg_money_parse_signed(text, &again, err, sizeof err) == 0,
                "format(%" PRId64 ") = \"%s\" does not parse: %s", v, text, err);
    FUZZ_ASSERT(again == v, "\"%s\" parsed back as %" PRId64 ", not %" PRId64, text, again, v);
    if (!allow_negative) {
        again = INT64_MIN;
        FUZZ_ASSERT(lg_money_parse(text, &again, err, sizeof err) == 0 && again == v,
                    "unsigned round trip of \"%s\" failed: %s", text, err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char err[128] = "";
    int64_t u = -7, s = -7, sum;
    int ru, rs;

    ru = lg_money_parse(text, &u, err, sizeof err);
    if (ru == 0) {
        FUZZ_ASSERT(u >= 0 && u <= LG_MONEY_MAX, "\"%s\" parsed as %" PRId64, text, u);
        check_round_trip(u, 0);
    } else {
        FUZZ_ASSERT(ru == -1 && u == -7, "refusal changed the output (%d, %" PRId64 ")", ru, u);
        FUZZ_ASSERT(err[0] != '\0', "refusal without a reason");
    }

    err[0] = '\0';
    rs = lg_money_parse_signed(text, &s, err, sizeof err);
    if (rs == 0) {
        FUZZ_ASSERT(s >= -LG_MONEY_MAX && s <= LG_MONEY_MAX, "\"%s\" parsed as %" PRId64, text, s);
        check_round_trip(s, 1);
    } else {
        FUZZ_ASSERT(rs == -1 && s == -7, "signed refusal changed the output");
        FUZZ_ASSERT(err[0] != '\0', "signed refusal without a reason");
    }
    /* The two parsers differ only in the leading '-'. */
    if (text[0] != '-') {
        FUZZ_ASSERT(ru == rs, "\"%s\": unsigned %d, signed %d", text, ru, rs);
        if (ru == 0)
            FUZZ_ASSERT(u == s, "\"%s\": %" PRId64 " vs %" PRId64, text, u, s);
    } else {
        FUZZ_ASSERT(ru == -1, "\"%s\": a sign was accepted", text);
    }

    /* Addition of the raw input bytes as two int64 values (any values, not only amounts). */
    if (size >= 16) {
        int64_t a, b;
        __int128 exact;
        memcpy(&a, data, 8);
        memcpy(&b, data + 8, 8);
        exact = (__int128)a + (__int128)b;
        sum = 99;
        if (lg_money_add(a, b, &sum) == 0)
            FUZZ_ASSERT(exact == sum && sum >= -LG_MONEY_MAX && sum <= LG_MONEY_MAX,
                        "add(%" PRId64 ", %" PRId64 ") = %" PRId64, a, b, sum);
        else
            FUZZ_ASSERT(sum == 99 && (exact > LG_MONEY_MAX || exact < -LG_MONEY_MAX),
                        "add(%" PRId64 ", %" PRId64 ") refused", a, b);
        if (a >= -LG_MONEY_MAX && a <= LG_MONEY_MAX) {
            check_round_trip(a, 1);
        } else {
            /* Beyond NUMERIC(15,2): its text must be refused, never wrapped into range. */
            char big[LG_MONEY_STRLEN];
            int64_t v = 5;
            lg_money_format(a, big, sizeof big);
            FUZZ_ASSERT(lg_money_parse_signed(big, &v, err, sizeof err) == -1 && v == 5,
                        "\"%s\" (out of range) was accepted as %" PRId64, big, v);
        }
    }
    free(text);
    return 0;
}
