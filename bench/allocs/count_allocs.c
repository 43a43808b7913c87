/* Heap allocations per request, for `make bench`'s allocs section: an LD_PRELOAD library that counts calls of
 * the glibc allocator (malloc, calloc, realloc, memalign family) and frees, process-wide, and keeps the counts
 * in a small file per process, so the benchmark reads them before and after a wrk run of known request count.
 * The same unmodified binaries are measured this way: nginx, bare Pingora and the gateway (Rust's System
 * allocator calls malloc/posix_memalign). Not for a mimalloc build (it never calls malloc).
 *
 * The file is $ALLOC_COUNT_DIR/allocs.<pid> (the directory read at load), one line "allocations frees\n", rewritten in place (pwrite, no
 * allocation) every 256 allocations and at exit; a forked child (nginx's worker) gets its own file. A reading
 * is behind by at most 256 allocations. Build: cc -O2 -shared -fPIC -o count_allocs.so count_allocs.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ulong allocs, frees;
static atomic_int fd = -1;
static atomic_int fd_pid;
static atomic_int writing;

/* ALLOC_COUNT_DIR as it was when the library was loaded (nginx clears its workers' environment). */
static char dir[400];

__attribute__((constructor)) static void at_load(void) {
    const char *d = getenv("ALLOC_COUNT_DIR");
    if (d && strlen(d) < sizeof dir) strcpy(dir, d);
}

static void publish(void) {
    if (!dir[0] || atomic_exchange(&writing, 1)) return;
    int pid = getpid();
    if (atomic_load(&fd) < 0 || atomic_load(&fd_pid) != pid) {
        char path[512];
        if (snprintf(path, sizeof path, "%s/allocs.%d", dir, pid) < (int)sizeof path) {
            atomic_store(&fd, open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
            atomic_store(&fd_pid, pid);
        }
    }
    int f = atomic_load(&fd);
    if (f >= 0) {
        char line[64];
        int n = snprintf(line, sizeof line, "%20lu %20lu\n", atomic_load(&allocs), atomic_load(&frees));
        int saved = errno;
        if (pwrite(f, line, (size_t)n, 0) < 0) { /* nothing to do: the next publish tries again */ }
        errno = saved;
    }
    atomic_store(&writing, 0);
}

static inline void counted(void) {
    if ((atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed) & 255) == 255) publish();
}

void *malloc(size_t n) { counted(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { counted(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { counted(); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { counted(); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { counted(); return __libc_memalign(a, n); }
void *valloc(size_t n) { counted(); return __libc_memalign((size_t)sysconf(_SC_PAGESIZE), n); }
int posix_memalign(void **out, size_t a, size_t n) {
    counted();
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void *p) {
    if (p) atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    __libc_free(p);
}

__attribute__((destructor)) static void at_exit(void) { publish(); }
