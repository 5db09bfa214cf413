/*
 * alloc-log.so: an LD_PRELOAD shim that writes pgmo's allocation log of PyTorch's CPU allocator.
 *
 * PyTorch 1.13's CPU allocator (c10::alloc_cpu / c10::free_cpu in libc10.so) takes every tensor's memory from
 * posix_memalign(&p, 64, nbytes) and gives it back with free(p); objdump shows that alloc_cpu is the only caller of
 * posix_memalign in libc10. This shim interposes both functions:
 *   - a posix_memalign whose caller lies in libc10.so is logged as `alloc 0xADDRESS SIZE` (SIZE = nbytes requested);
 *   - a free of an address the shim logged is logged as `free 0xADDRESS` (before the memory goes back to libc, so a
 *     thread that gets the same address next logs its alloc after this free).
 * posix_memalign from other libraries (oneDNN's own buffers, ...) is not logged: it is counted by library, with its
 * largest live total, and reported in `#` comment lines when the log is closed. malloc, new and mmap are not watched.
 *
 * The program marks iterations and stops the log through two functions (ctypes.CDLL(None).pgmo_log_mark(b"...")):
 *   void pgmo_log_mark(const char *word);   writes the line `iteration` (word == NULL) or `# word`
 *   void pgmo_log_stop(void);               writes the summary and closes the log; later events are not logged
 * The log goes to the file named by PGMO_ALLOC_LOG (nothing is logged when it is unset).
 *
 * Build: cc -O2 -fPIC -shared -o alloc-log.so alloc-log.c -ldl -lpthread
 * The shim allocates nothing through malloc: its table of live addresses and its output buffer are mmap'd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*memalign_fn)(void **, size_t, size_t);
typedef void (*free_fn)(void *);

static memalign_fn real_memalign;
static free_fn real_free;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int out_fd = -1;
static int stopped;

/* live addresses: open addressing with linear probing and backward-shift deletion */
#define TABLE_BITS 22
#define TABLE_SIZE (1UL << TABLE_BITS)
struct slot { uintptr_t key; size_t size; int owner; };   /* owner: -1 = logged, else an index of others */
static struct slot *table;

/* the address range of libc10.so's loaded segments, found once it is loaded */
static uintptr_t c10_lo, c10_hi;

static char *buffer;
static size_t used;
#define BUFFER_SIZE (1UL << 20)

static unsigned long logged_allocs, logged_frees;

/* posix_memalign calls from other libraries, by the library holding the caller */
#define OTHERS 32
struct other { uintptr_t base; const char *name; unsigned long calls; size_t live, peak; };
static struct other others[OTHERS];
static int n_others;

static int other_of(uintptr_t caller) {
    Dl_info info;
    uintptr_t base = 0;
    const char *name = "(unknown)";
    if (dladdr((void *)caller, &info) && info.dli_fname) { base = (uintptr_t)info.dli_fbase; name = info.dli_fname; }
    for (int k = 0; k < n_others; k++) if (others[k].base == base) return k;
    if (n_others == OTHERS) return OTHERS - 1;
    others[n_others].base = base; others[n_others].name = name;
    return n_others++;
}

static void flush_buffer(void) {
    size_t done = 0;
    while (done < used) {
        ssize_t n = write(out_fd, buffer + done, used - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    used = 0;
}

static void put(const char *s, size_t n) {
    if (used + n > BUFFER_SIZE) flush_buffer();
    memcpy(buffer + used, s, n);
    used += n;
}

static void put_str(const char *s) { put(s, strlen(s)); }

static void put_dec(unsigned long v) {
    char tmp[24];
    int i = sizeof tmp;
    do { tmp[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    put(tmp + i, sizeof tmp - i);
}

static void put_hex(uintptr_t v) {
    char tmp[24];
    int i = sizeof tmp;
    do { tmp[--i] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    put("0x", 2);
    put(tmp + i, sizeof tmp - i);
}

static size_t hash(uintptr_t p) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ULL >> (64 - TABLE_BITS)); }

static void table_put(uintptr_t key, size_t size, int owner) {
    size_t i = hash(key);
    while (table[i].key && table[i].key != key) i = (i + 1) & (TABLE_SIZE - 1);
    table[i].key = key; table[i].size = size; table[i].owner = owner;
}

/* removes key; returns its slot's copy (key 0 when absent) */
static struct slot table_take(uintptr_t key) {
    struct slot none = {0, 0, 0};
    size_t i = hash(key);
    while (table[i].key && table[i].key != key) i = (i + 1) & (TABLE_SIZE - 1);
    if (!table[i].key) return none;
    struct slot found = table[i];
    /* backward shift: move later entries of the run into the hole when their home allows it */
    size_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & (TABLE_SIZE - 1);
        if (!table[j].key) break;
        size_t home = hash(table[j].key);
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) { table[hole] = table[j]; hole = j; }
    }
    table[hole].key = 0;
    return found;
}

static int find_c10(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size; (void)data;
    if (!info->dlpi_name || !strstr(info->dlpi_name, "libc10.so")) return 0;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int k = 0; k < info->dlpi_phnum; k++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[k];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo) lo = a;
        if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
    }
    c10_lo = lo; c10_hi = hi;
    return 1;
}

static int resolving;

static void resolve(void) {
    if (resolving) return;
    resolving = 1;
    if (!real_memalign) real_memalign = (memalign_fn)dlsym(RTLD_NEXT, "posix_memalign");
    if (!real_free) real_free = (free_fn)dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

__attribute__((constructor)) static void start(void) {
    resolve();
    const char *path = getenv("PGMO_ALLOC_LOG");
    if (!path || !*path) return;
    table = mmap(NULL, TABLE_SIZE * sizeof(struct slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    buffer = mmap(NULL, BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED || buffer == MAP_FAILED) return;
    out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) return;
    put_str("# pgmo allocation log: PyTorch's CPU allocator (c10::alloc_cpu -> posix_memalign, c10::free_cpu -> free), by scripts/pytorch/alloc-log.c\n");
}

static void summary(void) {
    put_str("# logged: "); put_dec(logged_allocs); put_str(" allocs, "); put_dec(logged_frees); put_str(" frees\n");
    for (int k = 0; k < n_others; k++) {
        put_str("# not logged: "); put_dec(others[k].calls); put_str(" posix_memalign calls from ");
        put_str(others[k].name); put_str(" (largest live total "); put_dec(others[k].peak); put_str(" B)\n");
    }
    put_str("# not watched: malloc, calloc, realloc, new and mmap\n");
}

void pgmo_log_mark(const char *word) {
    pthread_mutex_lock(&lock);
    if (out_fd >= 0 && !stopped) {
        if (word) { put_str("# "); put_str(word); put_str("\n"); }
        else put_str("iteration\n");
    }
    pthread_mutex_unlock(&lock);
}

void pgmo_log_stop(void) {
    pthread_mutex_lock(&lock);
    if (out_fd >= 0 && !stopped) {
        summary();
        flush_buffer();
        close(out_fd);
        stopped = 1;
    }
    pthread_mutex_unlock(&lock);
}

__attribute__((destructor)) static void finish(void) { pgmo_log_stop(); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (!real_memalign) resolve();
    if (!real_memalign) return 12; /* ENOMEM: called by dlsym while it resolves posix_memalign */
    int err = real_memalign(out, alignment, size);
    if (err || out_fd < 0 || !*out) return err;
    uintptr_t caller = (uintptr_t)__builtin_return_address(0);
    pthread_mutex_lock(&lock);
    if (!stopped) {
        if (!c10_hi) dl_iterate_phdr(find_c10, NULL);
        if (caller >= c10_lo && caller < c10_hi) {
            table_put((uintptr_t)*out, size, -1);
            put_str("alloc "); put_hex((uintptr_t)*out); put(" ", 1); put_dec(size); put("\n", 1);
            logged_allocs++;
        } else {
            int k = other_of(caller);
            table_put((uintptr_t)*out, size, k);
            others[k].calls++;
            others[k].live += size;
            if (others[k].live > others[k].peak) others[k].peak = others[k].live;
        }
    }
    pthread_mutex_unlock(&lock);
    return err;
}

void free(void *p) {
    if (p && out_fd >= 0) {
        pthread_mutex_lock(&lock);
        if (!stopped) {
            struct slot s = table_take((uintptr_t)p);
            if (s.key && s.owner < 0) {
                put_str("free "); put_hex((uintptr_t)p); put("\n", 1);
                logged_frees++;
            } else if (s.key) others[s.owner].live -= s.size;
        }
        pthread_mutex_unlock(&lock);
    }
    if (!real_free) resolve();
    if (real_free) real_free(p);   /* else: called by dlsym while it resolves free; the block is leaked */
}
