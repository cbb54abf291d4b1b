/* Allocation wrappers and error strings shared by every module. */
#include "core/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static void oom(size_t n)
{
    fprintf(stderr, "synq: out of memory allocating %zu bytes\n", n);
    abort();
}

void *synq_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) oom(n);
    return p;
}

void *synq_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL) oom(count * n);
    return p;
}

void *synq_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) oom(n);
    return q;
}

char *synq_strndup(const char *s, size_t n)
{
    char *p = synq_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *synq_strdup(const char *s)
{
    return synq_strndup(s, strlen(s));
}

const char *synq_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case SYNQ_EINVAL: return "invalid input";
    case SYNQ_ENOTFOUND: return "not found";
    case SYNQ_ECONFLICT: return "conflict";
    case SYNQ_ELEASE: return "lease not held";
    case SYNQ_ESTORE: return "storage failure";
    case SYNQ_ETOOBIG: return "too large";
    case SYNQ_EPROTO: return "protocol error";
    case SYNQ_EEXPIRED: return "expired";
    case SYNQ_ECANCELLED: return "cancelled";
    default: return err > -4096 ? uv_strerror(err) : "unknown error";
    }
}
