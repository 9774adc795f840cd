/* The journal: the list of local changes, crash-safe, in one file. A full version is written
 * whole (journal.tmp, fsync, rename over journal, fsync the directory); after it, each change of
 * a path is appended as one line and fdatasync'ed, so that close() costs two fsyncs (the overlay
 * file, the journal) whatever the number of changes. The full version is written again at open,
 * when the base or the landed set changes (a fetch, a commit) and when the appended lines
 * outnumber the changes by 1024. close() appends its line without waiting for the disk (a kill
 * -9 loses nothing: the page cache keeps it) and leaves the overlay file unflushed; every
 * durable write (an fsync, a namespace change, a commit's rewrite, the worker's flush within
 * flush_ms) first flushes the overlay files published since the last one, so a line that is on
 * disk names an overlay file that is too; a line the kernel wrote back early on its own is
 * checked at load (the overlay file must be as long as the line says). Text:
 *   spacefs-persist-journal 2 / base <oid|-> / next <id> / gen <n> / change and L lines / end /
 *   appended lines
 * change lines (mtime "seconds.nanoseconds"; journals before nanoseconds hold seconds, read as
 * such): F gen synced mtime size ovl [sha256] path | R gen synced mtime size oid lfs
 * lfs_oid commit srcpath path | W gen synced path | D gen synced path; L path for each path a
 * commit of ours put that the base does not show yet (view.c, remote_has). Appended lines: a
 * change line (it replaces the path's change), X path (the path has no change any more),
 * S next gen. Paths %XX-escaped. A last line without its newline (a write cut by a crash) is
 * ignored. The F line's sha256 (of the overlay file, hashed while it was written) is optional.
 * Version 1 journals (no appended lines) load too. */
#include "persist_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define JOURNAL_MAGIC        "spacefs-persist-journal 2"
#define JOURNAL_MAGIC_V1     "spacefs-persist-journal 1"
#define JOURNAL_APPEND_SLACK 1024

char *persist_ovl_path(const struct persist *p, uint64_t id)
{
    char *s = NULL;
    if (asprintf(&s, "%s/overlay/%016" PRIx64, p->dir, id) < 0)
        return NULL;
    return s;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Every overlay id in use (changes, open files), sorted; NULL on no memory (*n 0). */
static uint64_t *ovl_used(struct persist *p, size_t *n)
{
    size_t cap = p->changes.n + 1;
    uint64_t *v;

    *n = 0;
    for (struct pfile *f = p->files; f; f = f->next)
        cap++;
    if (!(v = malloc(cap * sizeof(*v))))
        return NULL;
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it))
        if (((struct pchange *)it->val)->ovl)
            v[(*n)++] = ((struct pchange *)it->val)->ovl;
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->work)
            v[(*n)++] = f->work;
    qsort(v, *n, sizeof(*v), cmp_u64);
    return v;
}

static int ovl_in(const uint64_t *used, size_t n, uint64_t id)
{
    return bsearch(&id, used, n, sizeof(id), cmp_u64) != NULL;
}

void persist_ovl_garbage(struct persist *p, uint64_t id)
{
    if (p->ngarbage == p->capgarbage) {
        size_t cap = p->capgarbage ? p->capgarbage * 2 : 16;
        uint64_t *v = realloc(p->garbage, cap * sizeof(*v));
        if (!v)
            return; /* the GC at the next open deletes it */
        p->garbage = v;
        p->capgarbage = cap;
    }
    p->garbage[p->ngarbage++] = id;
}

int persist_ovl_unflushed(struct persist *p, uint64_t id)
{
    if (p->nunflushed == p->capunflushed) {
        size_t cap = p->capunflushed ? p->capunflushed * 2 : 64;
        uint64_t *v = realloc(p->unflushed, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        p->unflushed = v;
        p->capunflushed = cap;
    }
    p->unflushed[p->nunflushed++] = id;
    if (!p->unflushed_since_ms)
        p->unflushed_since_ms = spacefs_now_ms();
    return 0;
}

/* Flushes the overlay files v[0..n): writeback is started for a batch, then waited for file by
 * file, so that one commit of the filesystem's own journal covers the batch (on ext4 the first
 * fdatasync commits the transaction that holds the others' allocations too). A file gone
 * meanwhile (replaced, then collected) is skipped: no line names it any more. Needs no lock
 * (p->dir only); *count gets the flushes made. */
static int ovl_flush(const struct persist *p, const uint64_t *v, size_t n, uint64_t *count)
{
    enum { BATCH = 128 };
    int fds[BATCH], rc = 0;

    for (size_t i = 0; i < n; i += BATCH) {
        size_t m = n - i < BATCH ? n - i : BATCH;
        for (size_t j = 0; j < m; j++) {
            char *s = persist_ovl_path(p, v[i + j]);
            fds[j] = s ? open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
            if (!s && !rc)
                rc = -ENOMEM;
            else if (fds[j] < 0 && errno != ENOENT && !rc)
                rc = -errno;
            free(s);
            if (fds[j] >= 0)
                sync_file_range(fds[j], 0, 0, SYNC_FILE_RANGE_WRITE);
        }
        for (size_t j = 0; j < m; j++) {
            if (fds[j] < 0)
                continue;
            if (fdatasync(fds[j]) < 0 && !rc)
                rc = -errno;
            (*count)++;
            close(fds[j]);
        }
    }
    return rc;
}

/* The overlay files published since the last durable point, flushed with the lock held. */
static int unflushed_flush(struct persist *p)
{
    int rc = 0;

    if (p->nunflushed) {
        rc = ovl_flush(p, p->unflushed, p->nunflushed, &p->flushes);
        p->nunflushed = 0;
        p->flush_gen++;
    }
    return rc;
}

int persist_journal_sync(struct persist *p, int unlock)
{
    int rc = 0, rc2;

    if (unlock && p->nunflushed) {
        /* The bulk without the lock (writers go on meanwhile), from a copy: the ids stay listed
         * until they are flushed, so an fsync meanwhile flushes them itself instead of trusting
         * a flush still under way. */
        size_t n = p->nunflushed;
        uint64_t *v = malloc(n * sizeof(*v)), gen = p->flush_gen, count = 0;
        if (v) {
            memcpy(v, p->unflushed, n * sizeof(*v));
            pthread_mutex_unlock(&p->lock);
            rc = ovl_flush(p, v, n, &count);
            pthread_mutex_lock(&p->lock);
            free(v);
            p->flushes += count;
            if (gen == p->flush_gen && n <= p->nunflushed) { /* else flushed meanwhile */
                memmove(p->unflushed, p->unflushed + n, (p->nunflushed - n) * sizeof(*v));
                p->nunflushed -= n;
            }
        }
    }
    if ((rc2 = unflushed_flush(p)) < 0 && !rc) /* what is left, with the lock */
        rc = rc2;
    if (p->jlazy && p->jfd >= 0) {
        if (fdatasync(p->jfd) < 0 && !rc)
            rc = -errno;
        p->flushes++;
    }
    p->jlazy = 0;
    p->unflushed_since_ms = 0;
    if (rc < 0)
        persist_log(p, SPACEFS_ERROR, "persist: flushing to disk failed: %s", strerror(-rc));
    return rc;
}

/* After a journal write: the journal on disk is the state in memory, so overlay files that
 * state does not use can go. */
static void garbage_collect(struct persist *p)
{
    size_t n;
    uint64_t *used;

    if (!p->ngarbage || !(used = ovl_used(p, &n))) /* no memory: the GC at the next open */
        return;
    for (size_t i = 0; i < p->ngarbage; i++) {
        char *s;
        if (ovl_in(used, n, p->garbage[i]) || !(s = persist_ovl_path(p, p->garbage[i])))
            continue;
        unlink(s);
        free(s);
    }
    free(used);
    p->ngarbage = 0;
}

/* One change line for `path` (or "X path" when it has none). */
static void put_change(FILE *f, const char *path, const struct pchange *c)
{
    if (!c) {
        fputs("X ", f);
    } else {
        switch (c->kind) {
        case PC_FILE:
            if (c->ovl) {
                fprintf(f, "F %" PRIu64 " %d ", c->gen, c->synced);
                persist_time_put(f, c->mtime);
                fprintf(f, " %" PRId64 " %" PRIu64 " ", c->size, c->ovl);
                if (c->sha256[0])
                    fprintf(f, "%s ", c->sha256);
            } else {
                fprintf(f, "R %" PRIu64 " %d ", c->gen, c->synced);
                persist_time_put(f, c->mtime);
                fprintf(f, " %" PRId64 " %s %d %s %s ", c->size, c->ref.oid, c->ref.is_lfs,
                        c->ref.is_lfs ? c->ref.lfs_oid : "-",
                        c->ref.commit[0] ? c->ref.commit : "-");
                persist_put_escaped(f, c->ref.path);
                fputc(' ', f);
            }
            break;
        case PC_WHITEOUT:
            fprintf(f, "W %" PRIu64 " %d ", c->gen, c->synced);
            break;
        case PC_DIR:
            fprintf(f, "D %" PRIu64 " %d ", c->gen, c->synced);
            break;
        }
    }
    persist_put_escaped(f, path);
    fputc('\n', f);
}

void persist_journal_touch(struct persist *p, const char *path)
{
    if (!p->jfull && persist_map_put(&p->jdirty, path, &p->jdirty) < 0)
        p->jfull = 1; /* no memory for the note: write the whole journal next time */
}

static int print_journal(FILE *f, void *payload)
{
    struct persist *p = payload;

    /* base: the commit, "none" when a fetch found the Dataset without one (or missing), "-" when
     * no fetch worked yet (the cache cannot know what the Dataset holds: view.c) */
    fprintf(f, "%s\nbase %s\nnext %" PRIu64 "\ngen %" PRIu64 "\n", JOURNAL_MAGIC,
            p->base[0]     ? p->base
            : p->seen_base ? "none"
                           : "-",
            p->next_ovl, p->gen);
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it))
        put_change(f, it->key, it->val);
    for (struct pmap_item *it = persist_map_first(&p->landed); it;
         it = persist_map_next(&p->landed, it)) {
        fputs("L ", f);
        persist_put_escaped(f, it->key);
        fputc('\n', f);
    }
    return fputs("end\n", f) < 0 ? -EIO : 0;
}

/* The whole journal, replacing the file durably; the append fd is reopened on it. */
static int journal_rewrite(struct persist *p)
{
    char *dst = NULL;
    int rc;

    if (asprintf(&dst, "%s/journal", p->dir) < 0)
        return -ENOMEM;
    if ((rc = spacefs_file_replace(dst, 1, print_journal, p)) == 0) {
        if (p->jfd >= 0)
            close(p->jfd);
        p->jfd = open(dst, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        p->jappended = 0;
        p->jlazy = 0; /* the old file's lazy lines are in the new one, which is on disk */
        p->flushes += 2;
        p->jfull = p->jfd < 0; /* cannot append: whole again next time */
        persist_map_clear(&p->jdirty, NULL);
    }
    free(dst);
    return rc;
}

/* The lines of the paths touched since the last write, in one write, then fdatasync unless
 * `lazy` (the next synced append or rewrite flushes them: fdatasync covers every earlier write
 * of the file). */
static int journal_append(struct persist *p, int lazy)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ssize_t n = -1;
    int rc = 0;

    if (!f)
        return -ENOMEM;
    for (struct pmap_item *it = persist_map_first(&p->jdirty); it;
         it = persist_map_next(&p->jdirty, it))
        put_change(f, it->key, persist_map_get(&p->changes, it->key));
    fprintf(f, "S %" PRIu64 " %" PRIu64 "\n", p->next_ovl, p->gen);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    for (size_t off = 0; off < len; off += (size_t)n) {
        n = write(p->jfd, buf + off, len - off);
        if (n < 0 && errno == EINTR)
            n = 0;
        else if (n < 0)
            break;
    }
    if (n >= 0 && !lazy)
        p->flushes++;
    if (n < 0 || (!lazy && fdatasync(p->jfd) < 0)) {
        rc = -errno;
        p->jfull = 1; /* a partial line may sit at the end: start a new file */
    } else {
        if (lazy && !p->jlazy) {
            p->jlazy = 1;
            if (!p->unflushed_since_ms)
                p->unflushed_since_ms = spacefs_now_ms();
        } else if (!lazy) {
            p->jlazy = 0; /* fdatasync covered the lazy lines before it */
        }
        p->jappended += p->jdirty.n;
        persist_map_clear(&p->jdirty, NULL);
    }
    free(buf);
    return rc;
}

static int journal_write(struct persist *p, int lazy)
{
    int whole = p->jfull || p->jfd < 0 || p->jappended > p->changes.n + JOURNAL_APPEND_SLACK, rc;

    /* a durable write makes every line before it durable: their overlay files go first */
    rc = !lazy || whole ? unflushed_flush(p) : 0;
    if (rc == 0)
        rc = whole ? journal_rewrite(p) : journal_append(p, lazy);
    if (rc < 0) {
        persist_log(p, SPACEFS_ERROR, "persist: writing the journal failed: %s", strerror(-rc));
        return rc;
    }
    if (!p->jlazy && !p->nunflushed)
        p->unflushed_since_ms = 0; /* nothing left for the worker's flush */
    if (!lazy || whole)            /* an overlay file goes once no durable line names it */
        garbage_collect(p);
    return 0;
}

int persist_journal_write(struct persist *p)
{
    return journal_write(p, 0);
}

int persist_journal_write_lazy(struct persist *p)
{
    return journal_write(p, 1);
}

static int parse_change(struct persist *p, char *line)
{
    char kind = line[0], *f[12];
    int nf = 0, want, rc = -EINVAL;
    struct pchange *c;
    char *save = NULL;

    for (char *t = strtok_r(line + 1, " \n", &save); t && nf < 12; t = strtok_r(NULL, " \n", &save))
        f[nf++] = t;
    want = kind == 'F' ? (nf == 7 ? 7 : 6) : kind == 'R' ? 10 : 3;
    if ((kind != 'F' && kind != 'R' && kind != 'W' && kind != 'D') || nf != want)
        return -EINVAL;
    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->gen = strtoull(f[0], NULL, 10);
    c->synced = atoi(f[1]);
    if (kind == 'F') {
        c->kind = PC_FILE;
        if (persist_time_parse(f[2], &c->mtime) < 0)
            goto out;
        c->size = strtoll(f[3], NULL, 10);
        c->ovl = strtoull(f[4], NULL, 10);
        if (want == 7 && strlen(f[5]) == 64 && strspn(f[5], "0123456789abcdef") == 64)
            memcpy(c->sha256, f[5], 65); /* anything else: unknown, hashed at upload */
    } else if (kind == 'R') {
        c->kind = PC_FILE;
        if (persist_time_parse(f[2], &c->mtime) < 0)
            goto out;
        c->size = c->ref.size = strtoll(f[3], NULL, 10);
        snprintf(c->ref.oid, sizeof(c->ref.oid), "%s", f[4]);
        c->ref.is_lfs = atoi(f[5]);
        if (c->ref.is_lfs)
            snprintf(c->ref.lfs_oid, sizeof(c->ref.lfs_oid), "%s", f[6]);
        if (strcmp(f[7], "-"))
            snprintf(c->ref.commit, sizeof(c->ref.commit), "%s", f[7]);
        if (persist_unescape(f[8]) < 0 || !(c->ref.path = strdup(f[8])))
            goto out;
    } else {
        c->kind = kind == 'W' ? PC_WHITEOUT : PC_DIR;
    }
    if (persist_unescape(f[want - 1]) < 0)
        goto out;
    persist_change_free(persist_map_del(&p->changes, f[want - 1])); /* an appended line replaces */
    if ((rc = persist_map_put(&p->changes, f[want - 1], c)) < 0)
        goto out;
    c = NULL;
    rc = 0;
out:
    persist_change_free(c);
    return rc;
}

/* One line after "end" (version 2): a change line, X path, S next gen. */
static int parse_appended(struct persist *p, char *line)
{
    unsigned long long next, gen;

    if (!strncmp(line, "X ", 2)) {
        line[strcspn(line, "\n")] = '\0';
        if (persist_unescape(line + 2) < 0)
            return -EINVAL;
        persist_change_free(persist_map_del(&p->changes, line + 2));
        return 0;
    }
    if (!strncmp(line, "S ", 2)) {
        if (sscanf(line + 2, "%llu %llu", &next, &gen) != 2)
            return -EINVAL;
        p->next_ovl = next;
        p->gen = gen;
        return 0;
    }
    return parse_change(p, line);
}

/* After a power loss: a line the kernel wrote back before the overlay file it names (close()
 * flushes neither at once) finds that file missing or shorter than the line says. Its change is
 * dropped with one log line, so the path shows what it was before (the base, or nothing): a
 * file closed shortly before a power loss may be lost, never uploaded cut or zero-filled. */
static void drop_unwritten(struct persist *p)
{
    struct pmap_item *it;
    char **lost = NULL;
    size_t n = 0, cap = 0;

    for (it = persist_map_first(&p->changes); it; it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        struct stat st;
        char *s;
        int ok;
        if (c->kind != PC_FILE || !c->ovl || !(s = persist_ovl_path(p, c->ovl)))
            continue;
        ok = stat(s, &st) == 0 && st.st_size >= c->size;
        free(s);
        if (ok)
            continue;
        if (n == cap) {
            char **v = realloc(lost, (cap = cap ? cap * 2 : 8) * sizeof(*v));
            if (!v)
                break;
            lost = v;
        }
        if (!(lost[n] = strdup(it->key)))
            break;
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        struct pchange *c = persist_map_del(&p->changes, lost[i]);
        persist_log(p, SPACEFS_WARN,
                    "persist: %s did not reach the disk before the last power loss (closed "
                    "without fsync); it is dropped",
                    lost[i]);
        persist_change_free(c);
        free(lost[i]);
        p->jfull = 1;
    }
    free(lost);
}

int persist_journal_load(struct persist *p)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    int rc = 0, ended = 0, lineno = 0, v2 = 0;
    ssize_t n;
    FILE *f;

    if (asprintf(&path, "%s/journal", p->dir) < 0)
        return -ENOMEM;
    f = spacefs_file_open_read(path);
    if (!f) {
        rc = -errno;
        goto out;
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (lineno == 1) {
            v2 = !strcmp(line, JOURNAL_MAGIC "\n");
            if (!v2 && strcmp(line, JOURNAL_MAGIC_V1 "\n") != 0) {
                rc = -EINVAL;
                break;
            }
        } else if (ended) {
            if (line[n - 1] != '\n') /* the last write was cut by a crash: never acknowledged */
                break;
            if ((rc = parse_appended(p, line)) < 0)
                break;
        } else if (!strncmp(line, "base ", 5)) {
            char oid[PERSIST_OID_MAX] = "";
            sscanf(line + 5, "%64s", oid);
            p->base_none = !strcmp(oid, "none");
            snprintf(p->base, sizeof(p->base), "%s", strcmp(oid, "-") && !p->base_none ? oid : "");
        } else if (!strncmp(line, "next ", 5)) {
            p->next_ovl = strtoull(line + 5, NULL, 10);
        } else if (!strncmp(line, "gen ", 4)) {
            p->gen = strtoull(line + 4, NULL, 10);
        } else if (!strncmp(line, "L ", 2)) {
            line[strcspn(line, "\n")] = '\0';
            if ((rc = persist_unescape(line + 2)) < 0 ||
                (rc = persist_map_put(&p->landed, line + 2, &p->landed)) < 0)
                break;
        } else if (!strcmp(line, "end\n")) {
            ended = 1;
            if (!v2)
                break;
        } else if ((rc = parse_change(p, line)) < 0) {
            break;
        }
    }
    if (!rc && !ended)
        rc = -EINVAL;
    if (rc)
        persist_log(p, SPACEFS_ERROR, "persist: journal %s is damaged at line %d", path, lineno);
    else
        drop_unwritten(p);
    fclose(f);
out:
    free(line);
    free(path);
    return rc;
}

/* Deletes overlay files that no change and no open file refers to, and leftover temp files;
 * keeps next_ovl above every id on disk. */
void persist_overlay_gc(struct persist *p)
{
    char *dir = NULL;
    struct dirent *de;
    size_t n;
    uint64_t *used = ovl_used(p, &n); /* NULL (no memory): delete nothing */
    DIR *d;

    if (asprintf(&dir, "%s/overlay", p->dir) < 0) {
        free(used);
        return;
    }
    if (!(d = opendir(dir)))
        goto out;
    while ((de = readdir(d))) {
        char *end;
        uint64_t id = strtoull(de->d_name, &end, 16);
        if (de->d_name[0] == '.' || *end || !id)
            continue;
        if (id >= p->next_ovl)
            p->next_ovl = id + 1;
        if (used && !ovl_in(used, n, id))
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
out:
    free(used);
    free(dir);
}

int persist_journal_pending(const char *cache_dir)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    int pending = 0;
    FILE *f;

    if (asprintf(&path, "%s/journal", cache_dir) < 0)
        return -ENOMEM;
    f = spacefs_file_open_read(path);
    free(path);
    if (!f)
        return -ENOENT;
    /* a change line "K gen synced ..." with synced 0; a later X line may have dropped it, and
     * then the engine opens for nothing, which is harmless */
    while (!pending && getline(&line, &cap, f) > 0) {
        unsigned long long gen;
        int synced;
        pending = strchr("FRWD", line[0]) && line[0] && line[1] == ' ' &&
                  sscanf(line + 2, "%llu %d", &gen, &synced) == 2 && synced == 0;
    }
    free(line);
    fclose(f);
    return pending;
}
