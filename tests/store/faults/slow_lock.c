/* Slows every file-lock request a little: a process descheduled inside DuckDB's open. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void maybe_sleep(int cmd, void *arg) {
    if (cmd != F_SETLK && cmd != F_SETLKW) return;
    struct flock *fl = (struct flock *)arg;
    if (fl == NULL || fl->l_type == F_UNLCK) return;
    const char *ms = getenv("WB_SLOW_LOCK_MS");
    int max_us = (ms ? atoi(ms) : 5) * 1000;
    if (max_us <= 0) return;
    struct timespec ts = {0, (long)(rand() % max_us) * 1000L};
    nanosleep(&ts, NULL);
}

typedef int (*fcntl_fn)(int, int, ...);

int fcntl(int fd, int cmd, ...) {
    static fcntl_fn real = NULL;
    if (!real) real = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl");
    va_list ap; va_start(ap, cmd); void *arg = va_arg(ap, void *); va_end(ap);
    maybe_sleep(cmd, arg);
    return real(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...) {
    static fcntl_fn real = NULL;
    if (!real) real = (fcntl_fn)dlsym(RTLD_NEXT, "fcntl64");
    va_list ap; va_start(ap, cmd); void *arg = va_arg(ap, void *); va_end(ap);
    maybe_sleep(cmd, arg);
    return real(fd, cmd, arg);
}
