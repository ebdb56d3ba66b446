/*
 * Fixed keyrings for the token target and the corpus generator: the seed tokens in
 * corpus/jwt/ are signed under FUZZ_KEY_A, so the fuzzer starts from tokens that verify.
 * FUZZ_KEY_B never signs anything: no input may verify under it.
 */
#ifndef LG_FUZZ_KEYS_H
#define LG_FUZZ_KEYS_H

#include "lg_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FUZZ_KEY_A "fuzz-a 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define FUZZ_KEY_B "fuzz-b f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100\n"

/* Loads a keyring of one line (written to a temporary file, removed at once). NULL on error. */
static inline lg_keyring *fuzz_keyring(const char *line)
{
    char path[] = "/tmp/lg-fuzz-key-XXXXXX", err[256];
    lg_keyring *kr;
    int fd = mkstemp(path);
    FILE *f;
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        return NULL;
    }
    fputs(line, f);
    fclose(f);
    kr = lg_keyring_load(path, err, sizeof err);
    unlink(path);
    if (kr == NULL)
        fprintf(stderr, "fuzz keyring: %s\n", err);
    return kr;
}

#endif
