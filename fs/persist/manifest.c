/* POSIX metadata of persist/: modes, symlinks, directory times, ctime and atime, kept per path
 * (struct pmeta) in the engine and in <cache>/meta, and carried to the Dataset in a manifest
 * at the reserved path .spacefs/meta, committed in the same commit as the files it describes.
 * The manifest is plain text, one line per file, symlink and directory (docs/filesystem.md
 * gives the format); any other client sees ordinary files and one extra text file. */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_MAGIC     "spacefs-meta 1"
#define LOCAL_MAGIC    "spacefs-persist-meta 1"
#define MANIFEST_LIMIT PERSIST_MANIFEST_LIMIT

/* ---- per-path metadata -------------------------------------------------------------------- */
struct pmeta *persist_meta_get(struct persist *p, const char *path)
{
    return persist_map_get(&p->meta, path);
}

struct pmeta *persist_meta_want(struct persist *p, const char *path)
{
    struct pmeta *m = persist_map_get(&p->meta, path);
    if (m)
        return m;
    if (!(m = calloc(1, sizeof(*m))))
        return NULL;
    if (persist_map_put(&p->meta, path, m) < 0) {
        free(m);
        return NULL;
    }
    return m;
}

void persist_meta_drop(struct persist *p, const char *path)
{
    free(persist_map_del(&p->meta, path));
    p->meta_local_dirty = 1;
}

/* A rename: the entry of `from` (and with dir, of everything below it) moves to `to`. */
void persist_meta_move(struct persist *p, const char *from, const char *to, int dir)
{
    struct pmeta *m;
    size_t n = 0, flen = strlen(from);
    char **keys = NULL;

    free(persist_map_del(&p->meta, to));
    if ((m = persist_map_del(&p->meta, from)) && persist_map_put(&p->meta, to, m) < 0)
        free(m);
    p->meta_local_dirty = 1;
    if (!dir || !(keys = calloc(p->meta.n + 1, sizeof(*keys))))
        return;
    for (struct pmap_item *it = persist_map_first(&p->meta); it;
         it = persist_map_next(&p->meta, it))
        if (persist_path_below(it->key, from))
            keys[n++] = strdup(it->key);
    for (size_t i = 0; i < n; i++) {
        char *dst = NULL;
        if (keys[i] && asprintf(&dst, "%s%s", to, keys[i] + flen) >= 0) {
            m = persist_map_del(&p->meta, keys[i]);
            if (m && persist_map_put(&p->meta, dst, m) < 0)
                free(m);
            free(dst);
        }
        free(keys[i]);
    }
    free(keys);
}

/* Something the manifest describes changed without a change of content (chmod, utimens, a
 * directory made or removed): a commit must carry a new manifest. */
void persist_meta_touch(struct persist *p)
{
    p->meta_local_dirty = 1;
    if (!p->meta_dirty_gen)
        p->meta_dirty_gen = ++p->gen;
    persist_changed(p);
}

/* An entry of `path`'s parent was added or removed: its mtime and ctime are now. */
void persist_parent_touch(struct persist *p, const char *path)
{
    const char *slash = strrchr(path, '/');
    char *parent = slash ? strndup(path, (size_t)(slash - path)) : NULL;
    struct pmeta *m = parent ? persist_meta_want(p, parent) : NULL;

    if (m)
        m->mtime = m->ctime = persist_now_ns();
    free(parent);
    p->meta_local_dirty = 1;
}

/* A file was created with `mode` (open's, after the umask). */
void persist_meta_created(struct persist *p, const char *path, mode_t mode)
{
    struct pmeta *m = persist_meta_want(p, path);

    if (m) {
        m->mode = S_IFREG | (mode & 07777);
        m->ctime = m->atime = 0; /* the change's mtime (now) is both */
    }
    persist_parent_touch(p, path);
}

uint32_t persist_meta_mode(struct persist *p, const char *path, int kind)
{
    struct pmeta *m = persist_meta_get(p, path);

    if (kind == PERSIST_KIND_DIR)
        return S_IFDIR | (m && m->mode ? m->mode & 07777 : 0755);
    if (m && S_ISLNK(m->mode))
        return S_IFLNK | 0777;
    return S_IFREG | (m && m->mode ? m->mode & 07777 : 0644);
}

/* ---- <cache>/meta: the table across remounts (written whole with rename, not fsynced: a
 * crash costs at most the metadata changes of the last moments, never content) ----------- */
static int print_local(FILE *f, void *payload)
{
    struct persist *p = payload;

    fprintf(f, "%s\ndirty %" PRIu64 "\nsha %s\n", LOCAL_MAGIC, p->meta_dirty_gen ? (uint64_t)1 : 0,
            p->manifest_sha[0] ? p->manifest_sha : "-");
    for (struct pmap_item *it = persist_map_first(&p->meta); it;
         it = persist_map_next(&p->meta, it)) {
        struct pmeta *m = it->val;
        fprintf(f, "%" PRIo32 " ", m->mode);
        persist_time_put(f, m->mtime);
        fputc(' ', f);
        persist_time_put(f, m->ctime);
        fputc(' ', f);
        persist_time_put(f, m->atime);
        fprintf(f, " %d ", m->published);
        persist_put_escaped(f, it->key);
        fputc('\n', f);
    }
    return ferror(f) ? -EIO : 0;
}

void persist_meta_save(struct persist *p)
{
    char *dst = NULL;
    int rc;

    p->meta_local_dirty = 0;
    if (asprintf(&dst, "%s/meta", p->dir) < 0)
        return;
    if ((rc = spacefs_file_replace(dst, 0, print_local, p)) < 0)
        persist_log(p, SPACEFS_WARN, "persist: cannot write %s: %s (metadata may be lost)", dst,
                    strerror(-rc));
    free(dst);
}

/* Does <cache_dir>/meta say a manifest is waiting for a commit (a chmod before an unmount
 * that could not wait)? Read without opening the engine (persist_cache_pending). */
int persist_meta_pending(const char *cache_dir)
{
    char *path = NULL, line[64];
    int pending = 0;
    FILE *f;

    if (asprintf(&path, "%s/meta", cache_dir) < 0)
        return 0;
    if ((f = spacefs_file_open_read(path))) {
        pending = fgets(line, sizeof(line), f) && !strcmp(line, LOCAL_MAGIC "\n") &&
                  fgets(line, sizeof(line), f) && !strcmp(line, "dirty 1\n");
        fclose(f);
    }
    free(path);
    return pending;
}

/* Splits `line` at spaces into at most max fields; returns how many. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \n", &save); t && n < max; t = strtok_r(NULL, " \n", &save))
        f[n++] = t;
    return n;
}

void persist_meta_load(struct persist *p)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    FILE *f;

    if (asprintf(&path, "%s/meta", p->dir) < 0)
        return;
    if (!(f = spacefs_file_open_read(path))) {
        free(path);
        return;
    }
    while (getline(&line, &cap, f) > 0) {
        char *fl[7];
        struct pmeta m = {0}, *dst;
        int n;
        if (++lineno == 1) {
            if (strcmp(line, LOCAL_MAGIC "\n") != 0)
                break;
            continue;
        }
        n = split(line, fl, 7);
        if (n == 2 && !strcmp(fl[0], "dirty")) {
            if (atoi(fl[1]) && !p->meta_dirty_gen)
                p->meta_dirty_gen = ++p->gen;
            continue;
        }
        if (n == 2 && !strcmp(fl[0], "sha")) {
            snprintf(p->manifest_sha, sizeof(p->manifest_sha), "%s",
                     strcmp(fl[1], "-") ? fl[1] : "");
            continue;
        }
        if (n != 6 || persist_time_parse(fl[1], &m.mtime) < 0 ||
            persist_time_parse(fl[2], &m.ctime) < 0 || persist_time_parse(fl[3], &m.atime) < 0 ||
            persist_unescape(fl[5]) < 0)
            continue;
        m.mode = (uint32_t)strtoul(fl[0], NULL, 8);
        m.published = atoi(fl[4]) == 1;
        if ((dst = persist_meta_want(p, fl[5])))
            *dst = m;
    }
    fclose(f);
    free(line);
    free(path);
}

/* ---- the manifest ------------------------------------------------------------------------- */
struct mline {
    const char *path; /* borrowed from a map key */
    char type;        /* f, l, d */
    uint32_t mode;
    int64_t mtime, size;
};

static int mline_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mline *)a)->path, ((const struct mline *)b)->path);
}

static int mlines_add(struct mline **v, size_t *n, size_t *cap, struct mline l)
{
    if (*n == *cap) {
        struct mline *nv = realloc(*v, (*cap = *cap ? *cap * 2 : 256) * sizeof(**v));
        if (!nv)
            return -ENOMEM;
        *v = nv;
    }
    (*v)[(*n)++] = l;
    return 0;
}

/* Every directory of the view: ancestors of visible files and local directories. */
static int collect_dirs(struct persist *p, struct pmap *dirs)
{
    for (int pass = 0; pass < 2; pass++) {
        struct pmap *m = pass ? &p->base_files : &p->changes;
        for (struct pmap_item *it = persist_map_first(m); it; it = persist_map_next(m, it)) {
            struct pchange *c = pass ? NULL : it->val;
            char *s;
            if (pass ? !persist_base_visible(p, it->key) : c->kind == PC_WHITEOUT)
                continue;
            if (!(s = strdup(it->key)))
                return -ENOMEM;
            if (c && c->kind == PC_DIR && persist_map_put(dirs, s, dirs) < 0) {
                free(s);
                return -ENOMEM;
            }
            for (char *q = s + strlen(s); q > s; q--) {
                if (*q != '/')
                    continue;
                *q = '\0';
                if (persist_map_put(dirs, s, dirs) < 0) {
                    free(s);
                    return -ENOMEM;
                }
            }
            free(s);
        }
    }
    return 0;
}

static void file_line(struct persist *p, const char *path, int64_t mtime, int64_t size,
                      struct mline *l)
{
    uint32_t mode = persist_meta_mode(p, path, PERSIST_KIND_FILE);

    l->path = path;
    l->type = S_ISLNK(mode) ? 'l' : 'f';
    l->mode = mode & 07777;
    l->mtime = mtime;
    l->size = size;
}

/* The manifest of the current view as text (*out new, malloc; *out_len). Lock held. */
static int manifest_text(struct persist *p, char **out, size_t *out_len)
{
    struct mline *v = NULL;
    size_t n = 0, cap = 0;
    struct pmap dirs;
    FILE *f;
    int rc = 0;

    *out = NULL;
    persist_map_init(&dirs);
    if ((rc = collect_dirs(p, &dirs)) < 0)
        goto out;
    for (struct pmap_item *it = persist_map_first(&p->changes); it && !rc;
         it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        struct mline l = {0};
        if (c->kind != PC_FILE)
            continue;
        file_line(p, it->key, c->mtime, c->size, &l);
        rc = mlines_add(&v, &n, &cap, l);
    }
    for (struct pmap_item *it = persist_map_first(&p->base_files); it && !rc;
         it = persist_map_next(&p->base_files, it)) {
        struct persist_rentry *e = it->val;
        struct mline l = {0};
        if (!persist_base_visible(p, it->key))
            continue;
        file_line(p, it->key, e->mtime, e->size, &l);
        rc = mlines_add(&v, &n, &cap, l);
    }
    for (struct pmap_item *it = persist_map_first(&dirs); it && !rc;
         it = persist_map_next(&dirs, it)) {
        struct pmeta *m = persist_meta_get(p, it->key);
        struct mline l = {it->key, 'd', persist_meta_mode(p, it->key, PERSIST_KIND_DIR) & 07777,
                          m ? m->mtime : 0, -1};
        rc = mlines_add(&v, &n, &cap, l);
    }
    if (rc < 0)
        goto out;
    if (n)
        qsort(v, n, sizeof(*v), mline_cmp);
    if (!(f = open_memstream(out, out_len))) {
        rc = -ENOMEM;
        goto out;
    }
    fprintf(f, "%s\n", META_MAGIC);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%c %04" PRIo32 " ", v[i].type, v[i].mode);
        persist_time_put(f, v[i].mtime);
        if (v[i].size >= 0)
            fprintf(f, " %" PRId64 " ", v[i].size);
        else
            fputs(" - ", f);
        persist_put_escaped(f, v[i].path);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        rc = -ENOMEM;
        free(*out);
        *out = NULL;
    }
out:
    free(v);
    persist_map_clear(&dirs, NULL);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* A file holding the manifest of the view for a commit, unless it equals the last one the
 * Dataset got (then 1, nothing to send). 0: *out_fd (read from offset 0), its size and sha256.
 * Lock held. */
int persist_manifest_build(struct persist *p, int *out_fd, int64_t *out_size,
                           char sha[PERSIST_OID_MAX])
{
    char *text = NULL, *tmp = NULL;
    size_t len = 0;
    hub_sha256 h;
    int fd = -1, rc;

    *out_fd = -1;
    if ((rc = manifest_text(p, &text, &len)) < 0)
        return rc;
    hub_sha256_init(&h);
    hub_sha256_update(&h, text, len);
    hub_sha256_hex(&h, sha);
    if (!strcmp(sha, p->manifest_sha)) {
        free(text);
        return 1;
    }
    if (asprintf(&tmp, "%s/overlay", p->dir) >= 0)
        fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    free(tmp);
    rc = fd < 0 ? -errno : write_all(fd, text, len);
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        free(text);
        return rc;
    }
    free(text);
    *out_fd = fd;
    *out_size = (int64_t)len;
    return 0;
}

/* A commit carrying the manifest of the view at generation `gen` landed: the local directories
 * it listed are published (a later manifest without them means another machine removed them). */
void persist_meta_published(struct persist *p, uint64_t gen)
{
    for (struct pmap_item *it = persist_map_first(&p->changes); it;
         it = persist_map_next(&p->changes, it)) {
        struct pchange *c = it->val;
        struct pmeta *m;
        if (c->kind == PC_DIR && c->gen <= gen && (m = persist_meta_want(p, it->key)))
            m->published = 1;
    }
    p->meta_local_dirty = 1;
}

/* At open, with the base loaded: metadata the Dataset's manifest lacks (a change made just
 * before a crash, which <cache>/meta did not record as pending) is pending again. Without it a
 * fetch would take the Dataset's manifest over an empty directory made here. */
void persist_meta_check(struct persist *p)
{
    char *text = NULL, sha[PERSIST_OID_MAX];
    size_t len = 0;
    hub_sha256 h;

    if (p->meta_dirty_gen || !p->manifest_sha[0] || manifest_text(p, &text, &len) < 0)
        return;
    hub_sha256_init(&h);
    hub_sha256_update(&h, text, len);
    hub_sha256_hex(&h, sha);
    free(text);
    if (strcmp(sha, p->manifest_sha) != 0)
        p->meta_dirty_gen = ++p->gen;
}

/* ---- reading a manifest (from the Dataset) ------------------------------------------------ */
void persist_manifest_free(struct pmanifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].path);
    free(m->v);
    free(m);
}

/* Parses manifest text; lines it cannot read are skipped and counted. NULL: not a manifest. */
static struct pmanifest *manifest_parse(FILE *f, size_t *bad)
{
    struct pmanifest *m = calloc(1, sizeof(*m));
    char *line = NULL;
    size_t cap = 0, vcap = 0;
    int lineno = 0;

    *bad = 0;
    while (m && getline(&line, &cap, f) > 0) {
        char *fl[6];
        struct pmanifest_entry e = {0};
        int n;
        if (++lineno == 1) {
            if (strcmp(line, META_MAGIC "\n") != 0) {
                persist_manifest_free(m);
                m = NULL;
            }
            continue;
        }
        n = split(line, fl, 6);
        if (n != 5 || strlen(fl[0]) != 1 || !strchr("fld", fl[0][0]) || !fl[1][0] ||
            strspn(fl[1], "01234567") != strlen(fl[1]) || strlen(fl[1]) > 5 ||
            persist_time_parse(fl[2], &e.mtime) < 0 ||
            (fl[0][0] == 'd'
                 ? strcmp(fl[3], "-") != 0
                 : strspn(fl[3], "0123456789") != strlen(fl[3]) || strlen(fl[3]) > 18) ||
            persist_unescape(fl[4]) < 0 || !fl[4][0]) {
            (*bad)++;
            continue;
        }
        e.type = fl[0][0];
        e.mode = (uint32_t)strtoul(fl[1], NULL, 8) & 07777;
        e.size = fl[0][0] == 'd' ? -1 : strtoll(fl[3], NULL, 10);
        if (m->n == vcap) {
            struct pmanifest_entry *nv = realloc(m->v, (vcap = vcap ? vcap * 2 : 64) * sizeof(e));
            if (!nv)
                break;
            m->v = nv;
        }
        if (!(e.path = strdup(fl[4])))
            break;
        m->v[m->n++] = e;
    }
    free(line);
    return m;
}

struct pmanifest *persist_manifest_parse_mem(const void *data, size_t len)
{
    struct pmanifest *m;
    size_t bad = 0;
    FILE *f;

    if (!len) /* fmemopen refuses an empty buffer */
        return calloc(1, sizeof(struct pmanifest));
    if (!(f = fmemopen((void *)data, len, "r")))
        return NULL;
    m = manifest_parse(f, &bad);
    fclose(f);
    return m;
}

/* The manifest of a tree (removed from v: the view never shows it), downloaded and parsed;
 * NULL when the tree has none or it cannot be read (logged once); sha gets its sha256 ("" if
 * the tree has none). skip: only take it out of v. Lock not held. */
struct pmanifest *persist_manifest_fetch(struct persist *p, struct persist_rentry *v, size_t *n,
                                         char sha[PERSIST_OID_MAX], int skip)
{
    struct spacefs_error rerr = {0};
    struct persist_rentry e = {0};
    struct pmanifest *m = NULL;
    enum spacefs_status st;
    size_t bad = 0, i;
    char *dir = NULL;
    FILE *f = NULL;
    int fd = -1;

    sha[0] = '\0';
    for (i = 0; i < *n && strcmp(v[i].path, PERSIST_META_PATH) != 0; i++)
        ;
    if (i == *n)
        return NULL;
    e = v[i];
    v[i] = v[--*n];
    if (skip)
        goto out;
    if (e.size > MANIFEST_LIMIT) {
        persist_log(p, SPACEFS_WARN, "persist: %s is %" PRId64 " bytes; ignored (file defaults)",
                    PERSIST_META_PATH, e.size);
        goto out;
    }
    if (asprintf(&dir, "%s/overlay", p->dir) >= 0)
        fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    st = p->remote.ops->object_get(p->remote.ctx, &e, fd, &rerr);
    if (st != SPACEFS_OK) {
        persist_log(p, SPACEFS_WARN, "persist: cannot read %s: %s; file defaults for now",
                    PERSIST_META_PATH, spacefs_status_name(st));
        goto out;
    }
    if (lseek(fd, 0, SEEK_SET) < 0 || !(f = fdopen(fd, "r")))
        goto out;
    {
        char buf[65536];
        size_t got;
        hub_sha256 h;
        hub_sha256_init(&h);
        while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
            hub_sha256_update(&h, buf, got);
        hub_sha256_hex(&h, sha);
        rewind(f);
    }
    fd = -1;
    if (!(m = manifest_parse(f, &bad)))
        persist_log(p, SPACEFS_WARN, "persist: %s is not a spacefs manifest; ignored",
                    PERSIST_META_PATH);
    else if (bad)
        persist_log(p, SPACEFS_WARN, "persist: %s: %zu unreadable lines ignored", PERSIST_META_PATH,
                    bad);
out:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    free(dir);
    free(e.path);
    return m;
}

/* Applies a fetched manifest to the new base (lock held, right after persist_base_replace).
 * Entries of paths the view lacks are dropped, paths without an entry keep defaults. Pending
 * local metadata changes (meta_dirty_gen) win over the manifest: then only files whose
 * version is new here take its times. A base file takes the recorded mtime only while its size
 * is the recorded one (another client rewrote it otherwise). */
void persist_manifest_apply(struct persist *p, const struct pmanifest *mf)
{
    int local = p->meta_dirty_gen != 0;

    for (size_t i = 0; mf && i < mf->n; i++) {
        const struct pmanifest_entry *e = &mf->v[i];
        int k = persist_node_kind(p, e->path);
        struct persist_rentry *b;
        struct pmeta *m;

        if (e->type == 'd' && k == PERSIST_KIND_NONE && !local) {
            struct pchange *c; /* an empty directory: local to git, kept by the manifest */
            if (persist_check_ancestors(p, e->path) == 0 && (c = persist_dir_change(p, e->path)))
                persist_change_set(p, e->path, c);
            k = persist_node_kind(p, e->path);
        }
        if (k == PERSIST_KIND_NONE || (k == PERSIST_KIND_DIR) != (e->type == 'd'))
            continue;
        m = persist_meta_get(p, e->path);
        if (local && m)
            continue;
        if (!(m = persist_meta_want(p, e->path)))
            continue;
        m->mode = (e->type == 'd' ? S_IFDIR : e->type == 'l' ? S_IFLNK : S_IFREG) | e->mode;
        m->published = e->type == 'd';
        if (e->type == 'd')
            m->mtime = e->mtime;
        else if ((b = persist_map_get(&p->base_files, e->path)) &&
                 !persist_map_get(&p->changes, e->path) && b->size == e->size && e->mtime &&
                 b->mtime != e->mtime) {
            b->mtime = e->mtime;
            p->mtimes_dirty = 1; /* <cache>/mtimes keeps it (the fetch saves it at once) */
        }
    }
    /* entries of what is gone; synced local directories the manifest no longer has */
    if (!local && mf) {
        struct pmap keep;
        char **gone = calloc(p->meta.n + p->changes.n + 1, sizeof(*gone));
        size_t ng = 0;
        persist_map_init(&keep);
        for (size_t i = 0; i < mf->n; i++)
            if (mf->v[i].type == 'd')
                persist_map_put(&keep, mf->v[i].path, &keep);
        for (struct pmap_item *it = persist_map_first(&p->changes); gone && it;
             it = persist_map_next(&p->changes, it)) {
            struct pchange *c = it->val;
            struct pmeta *m = persist_meta_get(p, it->key);
            if (c->kind == PC_DIR && c->synced && m && m->published &&
                !persist_map_get(&keep, it->key) && !persist_has_visible_below(p, it->key))
                gone[ng++] = strdup(it->key);
        }
        for (size_t i = 0; i < ng; i++)
            if (gone[i])
                persist_change_set(p, gone[i], NULL), free(gone[i]);
        free(gone);
        persist_map_clear(&keep, NULL);
    }
    persist_meta_prune(p);
    p->meta_local_dirty = 1;
}

/* Drops entries of paths the view no longer has. */
void persist_meta_prune(struct persist *p)
{
    char **gone = calloc(p->meta.n + 1, sizeof(*gone));
    size_t ng = 0;

    for (struct pmap_item *it = persist_map_first(&p->meta); gone && it;
         it = persist_map_next(&p->meta, it))
        if (persist_node_kind(p, it->key) == PERSIST_KIND_NONE)
            gone[ng++] = strdup(it->key);
    for (size_t i = 0; i < ng; i++) {
        if (gone[i])
            free(persist_map_del(&p->meta, gone[i]));
        free(gone[i]);
    }
    free(gone);
}
