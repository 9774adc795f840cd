/* Path parsing: turns "/ns/space/secrets/KEY" into a struct node, and validates the names the
 * Hub accepts, so that impossible names (".Trash", "bad name") fail with no network call. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_internal.h"

const char *const space_file_names[SF_COUNT] = {"status",   "runtime.json", "info.json", "url",
                                                "hardware", "sleeptime",    "control"};
const char *const meta_file_names[MF_COUNT] = {"whoami", "endpoint", "health",
                                               "stats",  "version",  "persist"};
const char *const log_names[2] = {"build", "run"};
const char *const kv_names[2] = {"secrets", "variables"};
const char *const persist_file_names[PF_COUNT] = {"persist.status", "persist.repo"};

/* The Hub's names: letters, digits, '-', '_', '.'; not starting or ending with '-' or '.';
 * no "--" or ".."; at most 96 characters. */
int name_valid_hf(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > NAME_MAX_HF)
        return 0;
    if (s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.'))
            return 0;
        if (i > 0 && (c == '-' || c == '.') && s[i - 1] == c)
            return 0;
    }
    return 1;
}

/* Secret and variable names are environment variable names: [A-Za-z_][A-Za-z0-9_]*. */
int name_valid_key(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > KEY_MAX || isdigit((unsigned char)s[0]))
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_'))
            return 0;
    }
    return 1;
}

static int lookup(const char *const *names, int count, const char *s)
{
    int i;

    for (i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* Splits path into at most 5 components; -ENOENT if deeper or a component is too long. */
static int split(const char *path, char comp[5][COMP_MAX + 1], int *out_n)
{
    int n = 0;
    const char *p = path;

    while (*p) {
        const char *e;
        size_t len;

        while (*p == '/')
            p++;
        if (!*p)
            break;
        e = strchr(p, '/');
        len = e ? (size_t)(e - p) : strlen(p);
        if (n == 5 || len > COMP_MAX)
            return -ENOENT;
        memcpy(comp[n], p, len);
        comp[n][len] = '\0';
        n++;
        p += len;
    }
    *out_n = n;
    return 0;
}

static int parse_space_part(struct node *out, char comp[5][COMP_MAX + 1], int n)
{
    int i;

    if (n == 2) {
        out->kind = NODE_SPACE;
        return 0;
    }
    if (n == 3) {
        if ((i = lookup(space_file_names, SF_COUNT, comp[2])) >= 0) {
            out->kind = NODE_FILE;
            out->file = i;
        } else if ((i = lookup(kv_names, 2, comp[2])) >= 0) {
            out->kind = NODE_KV_DIR;
            out->kv = (enum spacefs_kv_kind)i;
        } else if (strcmp(comp[2], "logs") == 0) {
            out->kind = NODE_LOGS_DIR;
        } else if ((i = lookup(persist_file_names, PF_COUNT, comp[2])) >= 0) {
            out->kind = NODE_PFILE;
            out->file = i;
        } else {
            return -ENOENT;
        }
        return 0;
    }
    if (n == 4) {
        if ((i = lookup(kv_names, 2, comp[2])) >= 0) {
            out->kind = NODE_KV;
            out->kv = (enum spacefs_kv_kind)i;
            snprintf(out->key, sizeof(out->key), "%s", comp[3]);
            return 0;
        }
        if (strcmp(comp[2], "logs") == 0 && (i = lookup(log_names, 2, comp[3])) >= 0) {
            out->kind = NODE_LOG;
            out->log = (enum spacefs_log_kind)i;
            return 0;
        }
    }
    return -ENOENT;
}

/* The start and length of the next component at *p (advanced past it); 0 at the end. */
static size_t next_comp(const char **p, const char **start)
{
    size_t len;

    while (**p == '/')
        (*p)++;
    *start = *p;
    len = strcspn(*p, "/");
    *p += len;
    return len;
}

/* persist/ and snapshots/ hold paths of any depth: "/ns/space/persist/a/b/c" keeps "a/b/c"
 * as out->rest (a pointer into path) and splits only the first three components. Returns 1
 * when path is such a path, with *prefix_len the length up to the third component. */
static int persist_split(const char *path, struct node *out, size_t *prefix_len)
{
    const char *p = path, *s;
    size_t len;
    int i;

    for (i = 0; i < 3; i++)
        if (!(len = next_comp(&p, &s)))
            return 0;
    if (len == 7 && strncmp(s, "persist", 7) == 0)
        out->kind = NODE_PERSIST;
    else if (len == 9 && strncmp(s, "snapshots", 9) == 0)
        out->kind = NODE_SNAP;
    else
        return 0;
    *prefix_len = (size_t)(p - path);
    while (*p == '/')
        p++;
    out->rest = p; /* trailing slashes are left for the engine's normalisation */
    return 1;
}

int node_parse(struct node *out, const char *path)
{
    char comp[5][COMP_MAX + 1];
    struct node pn;
    size_t prefix = 0;
    char *head;
    int n, i, rc;

    memset(out, 0, sizeof(*out));
    memset(&pn, 0, sizeof(pn));
    if (!path) /* a call on a file unlinked while open that has no handle to answer with */
        return -ESTALE;
    if (persist_split(path, &pn, &prefix)) {
        /* the first two components are parsed as for any Space ("ns/space/persist" is 3) */
        if (!(head = strndup(path, prefix)))
            return -ENOMEM;
        rc = split(head, comp, &n);
        free(head);
        if (rc < 0 || !name_valid_hf(comp[0]) || !name_valid_hf(comp[1]))
            return -ENOENT;
        memcpy(out->ns, comp[0], strlen(comp[0]) + 1);
        memcpy(out->space, comp[1], strlen(comp[1]) + 1);
        snprintf(out->id, sizeof(out->id), "%.96s/%.96s", out->ns, out->space);
        out->kind = pn.kind;
        out->rest = pn.rest;
        return 0;
    }
    if ((rc = split(path, comp, &n)) < 0)
        return rc;
    if (n == 0) {
        out->kind = NODE_ROOT;
        return 0;
    }
    if (strcmp(comp[0], ".spacefs") == 0) {
        if (n == 1) {
            out->kind = NODE_META_DIR;
            return 0;
        }
        if (n == 2 && (i = lookup(meta_file_names, MF_COUNT, comp[1])) >= 0) {
            out->kind = NODE_META_FILE;
            out->file = i;
            return 0;
        }
        return -ENOENT;
    }
    if (!name_valid_hf(comp[0]))
        return -ENOENT;
    memcpy(out->ns, comp[0], strlen(comp[0]) + 1); /* valid: at most 96 */
    if (n == 1) {
        out->kind = NODE_NS;
        return 0;
    }
    if (!name_valid_hf(comp[1]))
        return -ENOENT;
    memcpy(out->space, comp[1], strlen(comp[1]) + 1);
    snprintf(out->id, sizeof(out->id), "%.96s/%.96s", out->ns, out->space);
    return parse_space_part(out, comp, n);
}
