/* spacefs_common: the small helpers every part of fs/ shares (the FUSE wiring, the subtrees and
 * the persist engine): logging with named levels, the monotonic clock, crash-safe files, the
 * Hub's name rules and the one status -> errno table. No Hub, FUSE or libgit2 types: the persist
 * engine links only this, pthreads and the client's sha256 (hubsha256, libc only). */
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
/* fopen(path, "r") that does not follow a symlink in the last component (ELOOP): the files of
 * the cache are ours, and a link there was planted. NULL with errno set. */
FILE *spacefs_file_open_read(const char *path);

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
/* A word written to a control file: buf without one trailing newline into out (NUL-terminated,
 * at most size-1 bytes); -EINVAL if it does not fit or holds a NUL or another newline. */
int spacefs_one_word(char *out, size_t size, const char *buf, size_t len);
/* libfuse's name for a file unlinked while open (hard_remove off): ".fuse_hidden" and 16 hex
 * digits as the last component of path (which may be NULL: not one). */
int spacefs_hidden_name(const char *path);

/* ---- statuses (status.c): what a call to the Hub ended with, for the whole fs ---------------
 * Both seams (backend.h for the Hub's Space API, persist/remote.h for the persist engine's
 * Dataset) answer with this enum; fs/hubmap.c is the one map from hubclient's statuses, and
 * spacefs_errno_from_status the one table to errno (docs/filesystem.md, "Errors"). */
enum spacefs_status {
    SPACEFS_OK = 0,
    SPACEFS_E_INVALID,         /* bad argument or configuration; nothing was sent */
    SPACEFS_E_BAD_REQUEST,     /* 400/422/416: the Hub refused the request or the content */
    SPACEFS_E_AUTH,            /* 401 */
    SPACEFS_E_PAYMENT,         /* 402 */
    SPACEFS_E_FORBIDDEN,       /* 403 */
    SPACEFS_E_NOT_FOUND,       /* 404: repo, Space, revision or object missing */
    SPACEFS_E_CONFLICT,        /* 409 */
    SPACEFS_E_STALE,           /* 412: parentCommit is not the branch head any more */
    SPACEFS_E_TOO_BIG,         /* 413 */
    SPACEFS_E_RATE_LIMITED,    /* 429 after retries */
    SPACEFS_E_SERVER,          /* 5xx after retries */
    SPACEFS_E_TRANSPORT,       /* connection refused/reset, DNS, TLS */
    SPACEFS_E_TIMEOUT,         /* the call's deadline passed */
    SPACEFS_E_UNKNOWN_OUTCOME, /* a commit may or may not have landed */
    SPACEFS_E_PROTOCOL,        /* an answer we cannot parse */
    SPACEFS_E_NOMEM,
    SPACEFS_E_IO, /* local file error */
    SPACEFS_E_CANCELLED,
    SPACEFS_E_OFFLINE, /* the Hub cannot be reached (refused, no connection, no answer) or is
                          known to be unreachable: nothing was sent */
    SPACEFS_E_OTHER,
    SPACEFS_STATUS_COUNT
};

#define SPACEFS_ERR_CODE_MAX 64
#define SPACEFS_ERR_MSG_MAX  256

/* Filled by a failing call, never allocated. */
struct spacefs_error {
    long http_status;                  /* 0 if no HTTP answer */
    unsigned retry_after_ms;           /* the Hub's hint for 429/503, 0 if none */
    char code[SPACEFS_ERR_CODE_MAX];   /* the Hub's X-Error-Code, may be "" */
    char message[SPACEFS_ERR_MSG_MAX]; /* the Hub's message, may be "" */
};

/* The one table from status to (positive) errno; EIO for the unexpected. */
int spacefs_errno_from_status(enum spacefs_status st);
const char *spacefs_status_name(enum spacefs_status st);

#endif
