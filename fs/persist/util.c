/* Small pieces of the persist engine: the string-keyed hash map, logging and logging. */
#include "persist_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void persist_map_init(struct pmap *m)
{
    memset(m, 0, sizeof(*m));
}

void persist_map_clear(struct pmap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        struct pmap_item *it = m->b[i], *next;
        for (; it; it = next) {
            next = it->next;
            if (free_val)
                free_val(it->val);
            free(it->key);
            free(it);
        }
    }
    free(m->b);
    persist_map_init(m);
}

static struct pmap_item **slot(const struct pmap *m, const char *key)
{
    struct pmap_item **pp = &m->b[hash_str(key) & (m->nb - 1)];
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    return pp;
}

void *persist_map_get(const struct pmap *m, const char *key)
{
    struct pmap_item *it;
    if (!m->nb)
        return NULL;
    it = *slot(m, key);
    return it ? it->val : NULL;
}

static int grow(struct pmap *m)
{
    size_t nb = m->nb ? m->nb * 2 : 64;
    struct pmap_item **b = calloc(nb, sizeof(*b));
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        struct pmap_item *it = m->b[i], *next;
        for (; it; it = next) {
            size_t h = hash_str(it->key) & (nb - 1);
            next = it->next;
            it->next = b[h];
            b[h] = it;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

int persist_map_put(struct pmap *m, const char *key, void *val)
{
    struct pmap_item **pp, *it;

    if ((m->n + 1 > m->nb * 2 || !m->nb) && grow(m) < 0)
        return -ENOMEM;
    pp = slot(m, key);
    if (*pp) {
        (*pp)->val = val;
        return 0;
    }
    if (!(it = calloc(1, sizeof(*it))) || !(it->key = strdup(key))) {
        free(it);
        return -ENOMEM;
    }
    it->val = val;
    *pp = it;
    m->n++;
    return 0;
}

void *persist_map_del(struct pmap *m, const char *key)
{
    struct pmap_item **pp, *it;
    void *val;

    if (!m->nb)
        return NULL;
    pp = slot(m, key);
    if (!(it = *pp))
        return NULL;
    *pp = it->next;
    val = it->val;
    free(it->key);
    free(it);
    m->n--;
    return val;
}

struct pmap_item *persist_map_first(const struct pmap *m)
{
    for (size_t i = 0; i < m->nb; i++)
        if (m->b[i])
            return m->b[i];
    return NULL;
}

struct pmap_item *persist_map_next(const struct pmap *m, struct pmap_item *it)
{
    if (it->next)
        return it->next;
    for (size_t i = (hash_str(it->key) & (m->nb - 1)) + 1; i < m->nb; i++)
        if (m->b[i])
            return m->b[i];
    return NULL;
}

void persist_log(struct persist *p, enum spacefs_log_level level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!p->cfg.log)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->cfg.log(level, msg, p->cfg.log_payload);
}

void persist_rentries_free(struct persist_rentry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].path);
    free(v);
}

void persist_rcommits_free(struct persist_rcommit *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].summary);
    free(v);
}

void persist_change_free(void *v)
{
    struct pchange *c = v;
    if (!c)
        return;
    free(c->ref.path);
    free(c);
}
