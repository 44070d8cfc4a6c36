/*
 * Allocation (aborting on exhaustion), capped growable buffers, arenas, whole-file reads and
 * atomic file replacement.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static SAO_NORETURN void out_of_memory(size_t size)
{
    fprintf(stderr, "sao: out of memory allocating %zu bytes\n", size);
    abort();
}

void *sao_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

void *sao_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *sao_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

void *sao_grow(void *ptr, size_t *cap, size_t need, size_t item_size)
{
    if (need <= *cap) return ptr;
    size_t new_cap = *cap ? *cap : 16;
    while (new_cap < need) {
        SAO_ASSERT(new_cap <= SIZE_MAX / 2);
        new_cap *= 2;
    }
    SAO_ASSERT(new_cap <= SIZE_MAX / item_size);
    ptr = sao_realloc(ptr, new_cap * item_size);
    *cap = new_cap;
    return ptr;
}

char *sao_strdup(const char *s)
{
    return sao_strndup(s, strlen(s));
}

char *sao_strndup(const char *s, size_t n)
{
    char *p = sao_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sao_free(void *ptr)
{
    free(ptr);
}

/* ---- buffers ---- */

void sao_buf_init(sao_buf *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max;
}

void sao_buf_dispose(sao_buf *buf)
{
    if (!buf) return;
    sao_free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static int buf_reserve(sao_buf *buf, size_t extra)
{
    if (buf->max && (extra > buf->max || buf->len > buf->max - extra))
        return sao_error_set(SAO_ETOOBIG, "data exceeds the limit of %zu bytes", buf->max);
    size_t need = buf->len + extra + 1;
    if (need > buf->cap) {
        size_t cap = buf->cap;
        buf->data = sao_grow(buf->data, &cap, need, 1);
        buf->cap = cap;
    }
    return 0;
}

int sao_buf_reserve(sao_buf *buf, size_t extra)
{
    return buf_reserve(buf, extra);
}

int sao_buf_append(sao_buf *buf, const void *data, size_t len)
{
    int rc = buf_reserve(buf, len);
    if (rc) return rc;
    if (len) memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return 0;
}

int sao_buf_appendf(sao_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return sao_error_set(SAO_EINVAL, "bad format string");
    }
    int rc = buf_reserve(buf, (size_t)n);
    if (rc) {
        va_end(ap2);
        return rc;
    }
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    buf->len += (size_t)n;
    return 0;
}

void sao_buf_clear(sao_buf *buf)
{
    buf->len = 0;
    if (buf->data) buf->data[0] = '\0';
}

char *sao_buf_detach(sao_buf *buf, size_t *len)
{
    char *p = buf->data ? buf->data : sao_strdup("");
    if (len) *len = buf->len;
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return p;
}

/* ---- arenas ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    max_align_t data[];
} arena_block;

struct sao_arena {
    arena_block *head;
    size_t block_size;
};

sao_arena *sao_arena_new(size_t block_size)
{
    sao_arena *a = sao_calloc(1, sizeof(*a));
    a->block_size = block_size ? block_size : 64 * 1024;
    return a;
}

void *sao_arena_alloc(sao_arena *a, size_t size)
{
    size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    if (!a->head || a->head->size - a->head->used < size) {
        size_t bsize = size > a->block_size ? size : a->block_size;
        arena_block *b = sao_malloc(sizeof(*b) + bsize);
        b->used = 0;
        b->size = bsize;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += size;
    return p;
}

char *sao_arena_strndup(sao_arena *a, const char *s, size_t n)
{
    char *p = sao_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void sao_arena_free(sao_arena *a)
{
    if (!a) return;
    arena_block *b = a->head;
    while (b) {
        arena_block *next = b->next;
        sao_free(b);
        b = next;
    }
    sao_free(a);
}

/* ---- files ---- */

int sao_file_read(char **out, size_t *len, const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int err = errno;
        return sao_error_set(err == ENOENT ? SAO_ENOENT : SAO_EIO, "%s: %s", path, strerror(err));
    }
    sao_buf buf;
    sao_buf_init(&buf, max);
    int rc = 0;
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = sao_error_set(SAO_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        rc = sao_buf_append(&buf, chunk, (size_t)n);
        if (rc) {
            sao_error_set(rc, "%s: file is larger than the limit of %zu bytes", path, max);
            break;
        }
    }
    close(fd);
    if (rc) {
        sao_buf_dispose(&buf);
        return rc;
    }
    *out = sao_buf_detach(&buf, len);
    return 0;
}

int sao_mkdir_p(const char *path)
{
    char tmp[4096];
    if (sao_strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
        return sao_error_set(SAO_EINVAL, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return sao_error_set(SAO_EIO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return sao_error_set(SAO_EIO, "mkdir %s: %s", tmp, strerror(errno));
    return 0;
}

int sao_file_temp_for(char *tmp_path, size_t tmp_size, const char *path, int *fd_out)
{
    int n = snprintf(tmp_path, tmp_size, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= tmp_size) return sao_error_set(SAO_EINVAL, "path too long: %s", path);
    int fd = mkstemp(tmp_path);
    if (fd < 0) return sao_error_set(SAO_EIO, "create %s: %s", tmp_path, strerror(errno));
    *fd_out = fd;
    return 0;
}

static void fsync_parent(const char *path)
{
    char dir[4096];
    sao_strlcpy(dir, path, sizeof(dir));
    int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int sao_file_commit(const char *tmp_path, const char *path)
{
    if (rename(tmp_path, path) != 0) {
        int err = errno;
        unlink(tmp_path);
        return sao_error_set(SAO_EIO, "rename %s -> %s: %s", tmp_path, path, strerror(err));
    }
    fsync_parent(path);
    return 0;
}

int sao_file_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096];
    int fd = -1;
    int rc = sao_file_temp_for(tmp, sizeof(tmp), path, &fd);
    if (rc) return rc;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = sao_error_set(SAO_EIO, "write %s: %s", tmp, strerror(errno));
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (!rc && fsync(fd) != 0) rc = sao_error_set(SAO_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc) rc = sao_error_set(SAO_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return sao_file_commit(tmp, path);
}
