// Counts heap allocations and socket writes of a process, for bench/alloc-count.sh: loaded with
// LD_PRELOAD, it forwards malloc & co. to glibc's own entry points and writev/write/sendmsg to
// the next definition, counting each call; at exit it writes the totals to $ALLOC_COUNT_FILE as
// "allocations N\nwrites N\n". Counts repeat closely run to run whatever else the machine does,
// which CPU time does not.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ulong allocations;
static atomic_ulong writes;

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return 12; // ENOMEM
    *out = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    return __libc_memalign(alignment, size);
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    static ssize_t (*next)(int, const struct iovec *, int);
    if (!next) next = dlsym(RTLD_NEXT, "writev");
    atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
    return next(fd, iov, count);
}

ssize_t write(int fd, const void *bytes, size_t count) {
    static ssize_t (*next)(int, const void *, size_t);
    if (!next) next = dlsym(RTLD_NEXT, "write");
    atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
    return next(fd, bytes, count);
}

ssize_t sendmsg(int fd, const struct msghdr *message, int flags) {
    static ssize_t (*next)(int, const struct msghdr *, int);
    if (!next) next = dlsym(RTLD_NEXT, "sendmsg");
    atomic_fetch_add_explicit(&writes, 1, memory_order_relaxed);
    return next(fd, message, flags);
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("ALLOC_COUNT_FILE");
    if (!path) return;
    char text[128];
    int length = snprintf(text, sizeof text, "allocations %lu\nwrites %lu\n",
                          atomic_load(&allocations), atomic_load(&writes));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    ssize_t (*raw_write)(int, const void *, size_t) = dlsym(RTLD_NEXT, "write");
    if (raw_write && length > 0) raw_write(fd, text, (size_t)length);
    close(fd);
}
