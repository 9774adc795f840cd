/* spacefs_common: the small helpers every part of fs/ shares (the FUSE wiring, the subtrees and
 * the persist engine): logging with named levels, the monotonic clock, crash-safe files, the
 * Hub's name rules and a streamed sha256. No Hub, FUSE or libgit2 types: the persist engine
 * links only this (and pthreads). */
#ifndef SPACEFS_COMMON_H
#define SPACEFS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- logging (log.c): one function, levels by name, stderr or syslog ------------------------- */
enum spacefs_log_level { SPACEFS_ERROR = 0, SPACEFS_WARN, SPACEFS_INFO, SPACEFS_DEBUG };

/* Messages above `level` are dropped; use_syslog sends them to syslog instead of stderr. */
void spacefs_log_setup(enum spacefs_log_level level, int use_syslog);
void spacefs_log(enum spacefs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- clock and files (util.c) ------------------------------------------------------------- */
int64_t spacefs_now_ms(void); /* CLOCK_MONOTONIC, milliseconds */
/* 1 when something stamped at_ms (monotonic; 0 = never) is younger than ttl_ms. */
int spacefs_fresh(int64_t at_ms, unsigned ttl_ms);

/* mkdir -p; what it creates gets `mode`, and so does the last component. 0 or -errno. */
int spacefs_mkdir_p(const char *path, mode_t mode);
int spacefs_dir_fsync(const char *dir); /* 0 or -errno */
/* Replaces `path` (mode 0600) with what `write` prints, through path.tmp and rename(2), so a
 * reader sees the old or the new file, never a mix. durable: fsync the file before the rename
 * and the directory after it. write returns 0 or -errno. 0 or -errno. */
int spacefs_file_replace(const char *path, int durable, int (*write)(FILE *f, void *payload),
                         void *payload);

/* ---- names (util.c) ---------------------------------------------------------------------------
 */
#define SPACEFS_NAME_MAX    96 /* the Hub's limit for a namespace or repo name */
#define SPACEFS_KEY_MAX     128
#define SPACEFS_REPO_ID_MAX (2 * SPACEFS_NAME_MAX + 2) /* "ns/name" + NUL */

/* A namespace or repo name the Hub accepts: letters, digits, '-', '_', '.'; not starting or
 * ending with '-' or '.'; no "--" or ".."; at most 96 characters. */
int spacefs_name_valid(const char *s);
/* A secret/variable name: an environment variable name, [A-Za-z_][A-Za-z0-9_]*, <= 128. */
int spacefs_key_valid(const char *s);
/* "ns/name" with both parts valid names. */
int spacefs_repo_id_valid(const char *id);

/* ---- sha256 (sha256.c): FIPS 180-4, streamed, constant memory -------------------------------- */
struct spacefs_sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed */
    unsigned char buf[64];
    size_t fill;
};
void spacefs_sha256_init(struct spacefs_sha256 *s);
void spacefs_sha256_update(struct spacefs_sha256 *s, const void *data, size_t n);
/* The digest so far as 64 lowercase hex digits + NUL; s stays usable (hashing can go on). */
void spacefs_sha256_hex(const struct spacefs_sha256 *s, char out[65]);

#endif
