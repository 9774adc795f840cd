/* The journal: the list of local changes, rewritten whole and crash-safely (write journal.tmp,
 * fsync, rename over journal, fsync the directory), so that after a crash the journal is the
 * last complete version and every overlay file it names was fsynced before it. Text format:
 *   spacefs-persist-journal 1 / base <oid|-> / next <id> / gen <n> / change lines / end
 * change lines: F gen synced mtime size ovl [sha256] path | R gen synced mtime size oid lfs
 * lfs_oid commit srcpath path | W gen synced path | D gen synced path; L path for each path a
 * commit of ours put that the base does not show yet (persist_remote_has); paths %XX-escaped. The
 * F line's sha256 (of the overlay file, hashed while it was written) is optional: journals
 * without it load, and it is only written when known. */
#include "persist_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOURNAL_MAGIC "spacefs-persist-journal 1"

char *persist_ovl_path(const struct persist *p, uint64_t id)
{
    char *s = NULL;
    if (asprintf(&s, "%s/overlay/%016" PRIx64, p->dir, id) < 0)
        return NULL;
    return s;
}

void persist_put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == '%' || c == 0x7f)
            fprintf(f, "%%%02X", c);
        else
            fputc(c, f);
    }
}

int persist_unescape(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (*s == '%') {
            unsigned v;
            if (sscanf(s + 1, "%2X", &v) != 1)
                return -EINVAL;
            *w++ = (char)v;
            s += 2;
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int persist_ovl_unused(struct persist *p, uint64_t id)
{
    for (struct pmap_item *it = pmap_first(&p->changes); it; it = pmap_next(&p->changes, it))
        if (((struct pchange *)it->val)->ovl == id)
            return 0;
    for (struct pfile *f = p->files; f; f = f->next)
        if (f->work == id)
            return 0;
    return 1;
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

/* After a journal write: the journal on disk is the state in memory, so overlay files that
 * state does not use can go. */
static void garbage_collect(struct persist *p)
{
    for (size_t i = 0; i < p->ngarbage; i++) {
        char *s;
        if (!persist_ovl_unused(p, p->garbage[i]) || !(s = persist_ovl_path(p, p->garbage[i])))
            continue;
        unlink(s);
        free(s);
    }
    p->ngarbage = 0;
}

int persist_journal_write(struct persist *p)
{
    char *tmp = NULL, *dst = NULL;
    FILE *f = NULL;
    int rc = 0, fd;

    if (asprintf(&tmp, "%s/journal.tmp", p->dir) < 0 || asprintf(&dst, "%s/journal", p->dir) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        rc = -errno;
        if (fd >= 0)
            close(fd);
        goto out;
    }
    fprintf(f, "%s\nbase %s\nnext %" PRIu64 "\ngen %" PRIu64 "\n", JOURNAL_MAGIC,
            p->base[0] ? p->base : "-", p->next_ovl, p->gen);
    for (struct pmap_item *it = pmap_first(&p->changes); it; it = pmap_next(&p->changes, it)) {
        struct pchange *c = it->val;
        switch (c->kind) {
        case PC_FILE:
            if (c->ovl) {
                fprintf(f, "F %" PRIu64 " %d %" PRId64 " %" PRId64 " %" PRIu64 " ", c->gen,
                        c->synced, c->mtime, c->size, c->ovl);
                if (c->sha256[0])
                    fprintf(f, "%s ", c->sha256);
            } else {
                fprintf(f, "R %" PRIu64 " %d %" PRId64 " %" PRId64 " %s %d %s %s ", c->gen,
                        c->synced, c->mtime, c->size, c->ref.oid, c->ref.is_lfs,
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
        persist_put_escaped(f, it->key);
        fputc('\n', f);
    }
    for (struct pmap_item *it = pmap_first(&p->landed); it; it = pmap_next(&p->landed, it)) {
        fputs("L ", f);
        persist_put_escaped(f, it->key);
        fputc('\n', f);
    }
    fputs("end\n", f);
    if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
        rc = -errno;
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = -errno;
        goto out;
    }
    f = NULL;
    if (rename(tmp, dst) < 0) {
        rc = -errno;
        goto out;
    }
    if ((rc = fsync_dir(p->dir)) == 0)
        garbage_collect(p);
out:
    if (f)
        fclose(f);
    if (rc)
        persist_log(p, 0, "persist: writing the journal failed: %s", strerror(-rc));
    free(tmp);
    free(dst);
    return rc;
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
        c->mtime = strtoll(f[2], NULL, 10);
        c->size = strtoll(f[3], NULL, 10);
        c->ovl = strtoull(f[4], NULL, 10);
        if (want == 7 && strlen(f[5]) == 64 && strspn(f[5], "0123456789abcdef") == 64)
            memcpy(c->sha256, f[5], 65); /* anything else: unknown, hashed at upload */
    } else if (kind == 'R') {
        c->kind = PC_FILE;
        c->mtime = strtoll(f[2], NULL, 10);
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
    if ((rc = pmap_put(&p->changes, f[want - 1], c)) < 0)
        goto out;
    c = NULL;
    rc = 0;
out:
    pchange_free(c);
    return rc;
}

int persist_journal_load(struct persist *p)
{
    char *path = NULL, *line = NULL;
    size_t cap = 0;
    int rc = 0, ended = 0, lineno = 0;
    FILE *f;

    if (asprintf(&path, "%s/journal", p->dir) < 0)
        return -ENOMEM;
    f = fopen(path, "re");
    if (!f) {
        rc = -errno;
        goto out;
    }
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, JOURNAL_MAGIC, strlen(JOURNAL_MAGIC)) != 0) {
                rc = -EINVAL;
                break;
            }
        } else if (!strncmp(line, "base ", 5)) {
            char oid[PERSIST_OID_MAX] = "";
            sscanf(line + 5, "%64s", oid);
            snprintf(p->base, sizeof(p->base), "%s", strcmp(oid, "-") ? oid : "");
        } else if (!strncmp(line, "next ", 5)) {
            p->next_ovl = strtoull(line + 5, NULL, 10);
        } else if (!strncmp(line, "gen ", 4)) {
            p->gen = strtoull(line + 4, NULL, 10);
        } else if (!strncmp(line, "L ", 2)) {
            line[strcspn(line, "\n")] = '\0';
            if ((rc = persist_unescape(line + 2)) < 0 ||
                (rc = pmap_put(&p->landed, line + 2, &p->landed)) < 0)
                break;
        } else if (!strcmp(line, "end\n")) {
            ended = 1;
            break;
        } else if ((rc = parse_change(p, line)) < 0) {
            break;
        }
    }
    if (!rc && !ended)
        rc = -EINVAL;
    if (rc)
        persist_log(p, 0, "persist: journal %s is damaged at line %d", path, lineno);
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
    DIR *d;

    if (asprintf(&dir, "%s/overlay", p->dir) < 0)
        return;
    if (!(d = opendir(dir)))
        goto out;
    while ((de = readdir(d))) {
        char *end;
        uint64_t id = strtoull(de->d_name, &end, 16);
        int used = 0;
        if (de->d_name[0] == '.' || *end || !id)
            continue;
        if (id >= p->next_ovl)
            p->next_ovl = id + 1;
        for (struct pmap_item *it = pmap_first(&p->changes); it && !used;
             it = pmap_next(&p->changes, it))
            used = ((struct pchange *)it->val)->ovl == id;
        for (struct pfile *pf = p->files; pf && !used; pf = pf->next)
            used = pf->work == id;
        if (!used)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
out:
    free(dir);
}
