/*
 * Fuzz target: page cursors (src/common/lg_cursor.c), which every list endpoint reads from the
 * query string (?cursor=...) and turns into SQL parameters.
 *
 * Properties: a cursor is accepted only in its one canonical spelling (re-encoding what was
 * decoded gives the same text), only for its own list kind, with a lower-case UUID and, for
 * ledger entries, a positive sequence number.
 */
#include "fuzz_common.h"

#include "lg_crypto.h"
#include "lg_cursor.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (lg_crypto_init() != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char kinds[] = {'T',
                                 LG_CURSOR_KIND_USER,
                                 LG_CURSOR_KIND_TENANT,
                                 LG_CURSOR_KIND_TENANT_AUDIT,
                                 LG_CURSOR_KIND_API_KEY,
                                 LG_CURSOR_CUSTOMERS,
                                 LG_CURSOR_ACCOUNTS};
    char *text = fuzz_strndup(data, size);
    char id[LG_UUID_STRLEN], again[LG_CURSOR_STRLEN];
    int64_t us, seq;
    int accepted = 0;

    for (size_t k = 0; k < sizeof kinds; k++) {
        if (lg_cursor_decode_row(kinds[k], text, &us, id) != 0)
            continue;
        accepted++;
        FUZZ_ASSERT(lg_uuid_valid(id), "cursor gave id \"%s\"", id);
        FUZZ_ASSERT(lg_cursor_encode_row(kinds[k], us, id, again, sizeof again) == 0 &&
                        strcmp(again, text) == 0,
                    "cursor \"%s\" re-encodes as \"%s\"", text, again);
    }
    if (lg_cursor_decode_entry(text, &seq) == 0) {
        accepted++;
        FUZZ_ASSERT(seq > 0, "entry cursor with sequence %lld", (long long)seq);
        FUZZ_ASSERT(lg_cursor_encode_entry(seq, again, sizeof again) == 0 &&
                        strcmp(again, text) == 0,
                    "entry cursor \"%s\" re-encodes as \"%s\"", text, again);
    }
    FUZZ_ASSERT(accepted <= 1, "cursor \"%s\" read by %d lists", text, accepted);
    free(text);
    return 0;
}
