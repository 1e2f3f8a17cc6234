/*
 * Replays a committed corpus through a fuzz target: every regular file under
 * the directories (or the files) named on the command line is read and passed
 * to LLVMFuzzerTestOneInput once. A crash or a sanitizer report fails the
 * test the same way it fails the fuzzer; the order is sorted so that a failure
 * is reproducible.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Corpus files are small by construction (libFuzzer's -max_len); anything
 * larger is a mistake in the corpus, not an input to skip silently. */
#define REPLAY_MAX_FILE (8u << 20)

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long n;
    int rc = -1;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || (size_t)n > REPLAY_MAX_FILE ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: %s: unreadable or larger than %u bytes\n", path, REPLAY_MAX_FILE);
        goto done;
    }
    /* An exact-size heap copy, so that ASan catches any read past the end. */
    data = malloc(n ? (size_t)n : 1);
    if (!data) {
        fprintf(stderr, "replay: out of memory\n");
        goto done;
    }
    if (n && fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto done;
    }
    LLVMFuzzerTestOneInput(data, (size_t)n);
    rc = 0;
done:
    free(data);
    fclose(f);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file of one directory, in name order; returns the
 * number replayed or -1. */
static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0;
    int count = 0;

    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap ? cap * 2 : 64) * sizeof *names);
            if (!grown) {
                count = -1;
                goto done;
            }
            names = grown;
            cap = cap ? cap * 2 : 64;
        }
        if (!(names[n] = strdup(de->d_name))) {
            count = -1;
            goto done;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (replay_file(path) != 0) {
            count = -1;
            goto done;
        }
        count++;
    }
done:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int n;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : (replay_file(argv[i]) == 0 ? 1 : -1);
        if (n < 0)
            return 1;
        total += n;
    }
    /* An empty corpus would make the test pass without testing anything. */
    if (total == 0) {
        fprintf(stderr, "replay: no input files\n");
        return 1;
    }
    printf("replayed %d input(s)\n", total);
    return 0;
}
