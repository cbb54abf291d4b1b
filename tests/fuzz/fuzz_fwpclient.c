/* libFuzzer target for the CLI's Faktory reply reader (cli/fwpclient.h).
 * Input: a limit byte (the bulk bound: 1..256, or 64 KiB when the top bit
 * is set), then the bytes a server sends.
 *
 * Invariants: replies are read one after another until the input ends
 * inside one or an error comes; every reply consumes at least its type
 * byte and never more than is left; a bulk is at most the limit and its
 * bytes are exactly the input's; a simple/error text holds no CR or LF;
 * every proper prefix of the bytes a reply consumed gives "need more"
 * (SYNQ_FWP_AGAIN) or the same error, never a different reply. */
#include "cli/fwpclient.h"
#include "proto/fwp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t limit = data[0] & 0x80 ? (size_t)64 << 10 : (size_t)(data[0] & 0x7f) * 2 + 1;
    const char *p = (const char *)data + 1;
    size_t left = size - 1;
    while (left > 0) {
        synq_fwpclient_reply_t r;
        size_t used = 0;
        int rc = synq_fwpclient_reply_parse(p, left, limit, &r, &used);
        if (rc != 1) {
            CHECK(used == 0 && r.data == NULL);
            break;
        }
        CHECK(used >= 1 && used <= left);
        switch (r.kind) {
        case SYNQ_FWPCLIENT_BULK:
            CHECK(r.len <= limit);
            CHECK(r.data && memmem(p, used, r.data, r.len) != NULL);
            break;
        case SYNQ_FWPCLIENT_SIMPLE:
        case SYNQ_FWPCLIENT_ERROR:
            CHECK(r.data && !memchr(r.data, '\n', r.len) && r.len < used);
            synq_fwpclient_reply_error_text(&r);
            break;
        case SYNQ_FWPCLIENT_NULL:
            CHECK(r.data == NULL);
            break;
        default:
            CHECK(0);
        }
        /* a prefix never yields a different reply */
        for (size_t cut = 0; cut < used; cut += 1 + cut / 8) {
            synq_fwpclient_reply_t q;
            size_t u2 = 0;
            int rc2 = synq_fwpclient_reply_parse(p, cut, limit, &q, &u2);
            CHECK(rc2 != 1 || u2 <= cut);
            if (rc2 == 1) {
                CHECK(q.kind == SYNQ_FWPCLIENT_SIMPLE || q.kind == SYNQ_FWPCLIENT_ERROR ||
                      q.kind == SYNQ_FWPCLIENT_BULK || q.kind == SYNQ_FWPCLIENT_NULL);
                CHECK(0); /* a reply that fits in a prefix would have been shorter */
            }
            synq_fwpclient_reply_release(&q);
        }
        synq_fwpclient_reply_release(&r);
        p += used;
        left -= used;
    }
    return 0;
}
