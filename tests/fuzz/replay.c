/* Replays fuzz inputs through a libFuzzer target without libFuzzer, so the
 * checked-in corpus runs under the normal compiler and sanitizers in
 * `make test`. Usage: replay_<target> PATH...; a directory means every
 * regular file in it (sorted by name), anything else is one input. Each input
 * is passed in a heap buffer of exactly its size, so a read past the end is
 * caught by ASan. Exits non-zero if an argument cannot be read, if a
 * directory holds no inputs, or if no input ran at all. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) abort();
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL) abort();
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* exact-size copy: no slack after the input for an overread to hide in */
    uint8_t *exact = malloc(len ? len : 1);
    if (exact == NULL) abort();
    if (len) memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int only_files(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Returns the number of inputs run from dir, or -1. */
static long run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, only_files, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    long count = 0;
    int failed = 0;
    for (int i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(names[i]->d_name) + 2;
        char *path = malloc(plen);
        if (path == NULL) abort();
        snprintf(path, plen, "%s/%s", dir, names[i]->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) == 0)
                count++;
            else
                failed = 1;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    if (failed) return -1;
    if (count == 0) {
        fprintf(stderr, "replay: %s: no inputs\n", dir);
        return -1;
    }
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            long n = run_dir(argv[i]);
            if (n < 0) return 1;
            total += n;
        } else {
            if (run_file(argv[i]) != 0) return 1;
            total++;
        }
    }
    printf("replay: %ld inputs\n", total);
    return total > 0 ? 0 : 1;
}
