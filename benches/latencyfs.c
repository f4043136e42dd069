/* latencyfs: a read-only FUSE passthrough that sleeps before every operation
 * and counts them, to stand in for a network file system in benchmarks.
 *
 *   latencyfs SOURCE DELAY_US COUNTERS_FILE MOUNTPOINT [fuse options...]
 *
 * Every operation the kernel sends (lookup/getattr, access, open, read,
 * flush, release, opendir, readdir, releasedir, readlink, statfs) sleeps
 * DELAY_US microseconds, then is answered from SOURCE. The kernel's entry,
 * attribute and negative caches are off and file pages are dropped at every
 * open, so each system call that needs the server is a round trip, as on NFS
 * with `noac`. Counts per operation are kept in COUNTERS_FILE (NOPS native
 * 64-bit integers, mmap-shared; the benchmark reads and resets them).
 * Built by benches/test_nfs.py with `cc $(pkg-config --cflags --libs fuse3)`.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum { GETATTR, ACCESS, READLINK, OPEN, READ, FLUSH, RELEASE, OPENDIR, READDIR,
       RELEASEDIR, STATFS, NOPS };

static int source_fd;
static long delay_us;
static uint64_t *counters;

static void round_trip(int op)
{
    __atomic_fetch_add(&counters[op], 1, __ATOMIC_RELAXED);
    if (delay_us > 0) {
        struct timespec ts = { delay_us / 1000000, (delay_us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
    }
}

static const char *rel(const char *path)
{
    return path[1] ? path + 1 : ".";
}

static void *lfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->kernel_cache = 0;
    cfg->use_ino = 1;
    return NULL;
}

static int lfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    round_trip(GETATTR);
    int rc = fi ? fstat((int)fi->fh, st) : fstatat(source_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
    return rc == -1 ? -errno : 0;
}

static int lfs_access(const char *path, int mask)
{
    round_trip(ACCESS);
    return faccessat(source_fd, rel(path), mask, 0) == -1 ? -errno : 0;
}

static int lfs_readlink(const char *path, char *buf, size_t size)
{
    round_trip(READLINK);
    ssize_t n = readlinkat(source_fd, rel(path), buf, size - 1);
    if (n == -1)
        return -errno;
    buf[n] = '\0';
    return 0;
}

static int lfs_open(const char *path, struct fuse_file_info *fi)
{
    round_trip(OPEN);
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    int fd = openat(source_fd, rel(path), fi->flags & ~(O_CREAT | O_TRUNC));
    if (fd == -1)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int lfs_read(const char *path, char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)path;
    round_trip(READ);
    ssize_t n = pread((int)fi->fh, buf, size, off);
    return n == -1 ? -errno : (int)n;
}

static int lfs_flush(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    round_trip(FLUSH);
    return 0;
}

static int lfs_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    round_trip(RELEASE);
    close((int)fi->fh);
    return 0;
}

static int lfs_opendir(const char *path, struct fuse_file_info *fi)
{
    round_trip(OPENDIR);
    int fd = openat(source_fd, rel(path), O_RDONLY | O_DIRECTORY);
    if (fd == -1)
        return -errno;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int err = errno;
        close(fd);
        return -err;
    }
    fi->fh = (uint64_t)(uintptr_t)dir;
    return 0;
}

/* The whole directory in one call (offset 0 to the filler): one round trip,
 * as NFS READDIR returns many entries at once. */
static int lfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)path;
    (void)off;
    (void)flags;
    round_trip(READDIR);
    DIR *dir = (DIR *)(uintptr_t)fi->fh;
    rewinddir(dir);
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        struct stat st;
        memset(&st, 0, sizeof st);
        st.st_ino = e->d_ino;
        st.st_mode = (mode_t)DTTOIF(e->d_type);
        if (fill(buf, e->d_name, &st, 0, 0))
            break;
    }
    return 0;
}

static int lfs_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    round_trip(RELEASEDIR);
    closedir((DIR *)(uintptr_t)fi->fh);
    return 0;
}

static int lfs_statfs(const char *path, struct statvfs *st)
{
    (void)path;
    round_trip(STATFS);
    return fstatvfs(source_fd, st) == -1 ? -errno : 0;
}

static const struct fuse_operations ops = {
    .init = lfs_init,
    .getattr = lfs_getattr,
    .access = lfs_access,
    .readlink = lfs_readlink,
    .open = lfs_open,
    .read = lfs_read,
    .flush = lfs_flush,
    .release = lfs_release,
    .opendir = lfs_opendir,
    .readdir = lfs_readdir,
    .releasedir = lfs_releasedir,
    .statfs = lfs_statfs,
};

int main(int argc, char *argv[])
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s SOURCE DELAY_US COUNTERS_FILE MOUNTPOINT [fuse options]\n",
                argv[0]);
        return 2;
    }
    source_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (source_fd == -1) {
        perror(argv[1]);
        return 1;
    }
    delay_us = strtol(argv[2], NULL, 10);
    int cfd = open(argv[3], O_RDWR | O_CREAT, 0644);
    if (cfd == -1 || ftruncate(cfd, NOPS * sizeof(uint64_t)) == -1) {
        perror(argv[3]);
        return 1;
    }
    counters = mmap(NULL, NOPS * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (counters == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    /* fuse_main sees: PROG MOUNTPOINT [options...] */
    argv[3] = argv[0];
    return fuse_main(argc - 3, argv + 3, &ops, NULL);
}
