/* Universal macros, error codes and allocation wrappers used by every module.
 * Kept small on purpose: anything that belongs to one module lives there. */
#ifndef SYNQ_CORE_COMMON_H
#define SYNQ_CORE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SYNQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SYNQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SYNQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SYNQ_CONTAINER_OF(ptr, type, field) ((type *)((char *)(ptr)-offsetof(type, field)))

/* Our error codes live below libuv's range (-1 .. -4095), as libuv's own
 * negative errno values pass through unchanged. */
enum {
    SYNQ_EINVAL = -10001,   /* invalid input (a field, a value) */
    SYNQ_ENOTFOUND = -10002, /* no such object */
    SYNQ_ECONFLICT = -10003, /* duplicate id, wrong state */
    SYNQ_ELEASE = -10004,   /* caller no longer holds the lease */
    SYNQ_ESTORE = -10005,   /* storage failure */
    SYNQ_ETOOBIG = -10006,  /* a limit was exceeded */
    SYNQ_EPROTO = -10007,   /* malformed protocol input */
    SYNQ_EEXPIRED = -10008, /* the object was pruned, or a token is past its exp */
    SYNQ_ECANCELLED = -10009, /* the job was cancelled while the caller held it */
    SYNQ_EGONE = -10010,    /* a stream position that can no longer be recovered */
};

/* Returns a static message for a synq or libuv error code. */
const char *synq_strerror(int err);

/* Allocation wrappers: abort the process with a message on failure. Safe
 * because every client-controlled size is capped before allocation. */
void *synq_malloc(size_t n);
void *synq_calloc(size_t count, size_t n);
void *synq_realloc(void *p, size_t n);
char *synq_strdup(const char *s);
char *synq_strndup(const char *s, size_t n);

#endif
