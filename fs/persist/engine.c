/* The persist engine's life: configuration defaults, open (the cache directories, recovery
 * from the journal, the base tree from the mirror, the worker) and close (a bounded wait for
 * the upload, then everything freed; what is not committed stays in the journal). */
#include "persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The journal says it, or <cache>/meta does (a chmod before an unmount that could not wait); a
 * cache without a journal never had an engine open: nothing is pending. */
int persist_cache_pending(const char *cache_dir)
{
    int rc = persist_journal_pending(cache_dir);

    return rc < 0 ? 0 : rc || persist_meta_pending(cache_dir);
}

void persist_config_init(struct persist_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->quiet_ms = 2000;
    cfg->flush_ms = 5000;
    cfg->min_interval_ms = 10000;
    cfg->max_delay_ms = 60000;
    cfg->ttl_ms = 30000;
    cfg->backoff_base_ms = 1000;
    cfg->backoff_max_ms = 60000;
    cfg->fsync_attempts = 3;
    cfg->stale_retries = 5;
    cfg->max_commit_files = 1024;
    cfg->object_cache_bytes = (uint64_t)1 << 30;
}

static int load_base_tree(struct persist *p)
{
    struct spacefs_error rerr = {0};
    struct persist_rentry *v = NULL;
    enum spacefs_status st;
    size_t n = 0;

    if (!p->base[0] && p->base_none) { /* fetched: no commit then, so no file */
        persist_base_replace(p, "", NULL, 0, 0);
        return 0;
    }
    if (!p->base[0])
        return -ENOENT;
    st = p->remote.ops->tree(p->remote.ctx, p->base, &v, &n, &rerr);
    if (st != SPACEFS_OK)
        return -spacefs_errno_from_status(st);
    persist_base_replace(p, p->base, v, n, 0);
    return 0;
}

/* One engine owns a cache directory: an exclusive flock on the directory, which the kernel
 * releases however the process ends. A second engine on it (another process given the same
 * cache_dir) would interleave journal lines and reuse overlay ids: it gets EBUSY. Holding it is
 * also what lets the open remove what an earlier run left half done (downloads). */
static int own_dir(struct persist *p)
{
    if ((p->dir_fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (flock(p->dir_fd, LOCK_EX | LOCK_NB) == 0) {
        persist_obj_sweep_partial(p);
        return 0;
    }
    if (errno != EWOULDBLOCK) { /* no flock on this filesystem (see hub_mirror_open) */
        persist_log(p, SPACEFS_WARN,
                    "persist: cannot lock %s (%s): a second mount sharing this cache would not "
                    "be noticed, and downloads a killed run left are not removed",
                    p->dir, strerror(errno));
        return 0;
    }
    persist_log(p, SPACEFS_ERROR,
                "persist: the cache %s is in use by another process (is its cache directory used "
                "by another mount?)",
                p->dir);
    return -EBUSY;
}

int persist_open(struct persist **out, const struct persist_config *cfg,
                 struct persist_remote remote)
{
    struct persist *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;
    char *sub = NULL;
    int rc;

    *out = NULL;
    if (!p) {
        remote.ops->free(remote.ctx);
        return -ENOMEM;
    }
    p->remote = remote;
    p->cfg = *cfg;
    p->cfg.log = cfg->log;
    persist_map_init(&p->base_files);
    persist_map_init(&p->changes);
    persist_map_init(&p->meta);
    persist_map_init(&p->prov_dirs);
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);
    p->next_ovl = 1;
    p->jfd = -1;
    p->dir_fd = -1;
    p->jfull = 1;
    if (!cfg->cache_dir || !(p->dir = strdup(cfg->cache_dir))) {
        rc = cfg->cache_dir ? -ENOMEM : -EINVAL;
        goto fail;
    }
    p->cfg.cache_dir = p->dir;
    if ((rc = spacefs_mkdir_p(p->dir, 0700)) < 0 || (rc = own_dir(p)) < 0)
        goto fail;
    for (int i = 0; i < 2; i++) {
        if (asprintf(&sub, "%s/%s", p->dir, i ? "objects" : "overlay") < 0) {
            sub = NULL;
            rc = -ENOMEM;
            goto fail;
        }
        rc = spacefs_mkdir_p(sub, 0700);
        free(sub);
        sub = NULL;
        if (rc < 0)
            goto fail;
    }
    pthread_mutex_lock(&p->lock);
    rc = persist_journal_load(p);
    if (rc == -ENOENT)
        rc = 0;
    persist_index_rebuild(p); /* the journal's changes; again with the base */
    persist_meta_load(p);
    if (rc == 0) {
        if (p->next_ovl == 0)
            p->next_ovl = 1;
        persist_overlay_gc(p);
        if (load_base_tree(p) < 0)
            p->based = 0; /* the first round fetches */
        else
            persist_meta_check(p);
        p->last_change_ms = spacefs_now_ms();
        persist_prov_begin(p); /* a fresh cache: the worker fetches, lookups go on meanwhile */
        if (!p->based && !p->provisional)
            persist_sync_round(p, 1, 0); /* best effort: works offline */
        p->failures = 0;
        p->next_attempt_ms = 0;
    }
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        goto fail;
    if (!cfg->no_worker && (rc = persist_worker_start(p)) < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    persist_close(p, 0);
    return rc;
}

int persist_cache_removed(struct persist *p)
{
    struct stat st;

    if (p->dir_fd >= 0)
        return fstat(p->dir_fd, &st) == 0 && st.st_nlink == 0;
    return stat(p->dir, &st) < 0 && errno == ENOENT;
}

void persist_close(struct persist *p, unsigned wait_ms)
{
    if (!p)
        return;
    if (wait_ms && p->worker_started) {
        int rc = persist_sync_wait(p, wait_ms);
        if (rc < 0)
            persist_log(p, SPACEFS_WARN,
                        "persist: unmounting with changes not committed (%s); the next "
                        "mount uploads them",
                        strerror(-rc));
    }
    persist_worker_stop(p);
    persist_hasher_stop(p);
    pthread_mutex_lock(&p->lock);
    persist_prov_end(p);             /* stopped before its first fetch ended */
    if (!persist_cache_removed(p)) { /* else there is nowhere to write (persist_cache_removed) */
        persist_journal_sync(p, 0);  /* what close() acknowledged, on disk before unmount ends */
        if (p->mtimes_dirty)
            persist_mtimes_save(p);
        if (p->meta_local_dirty)
            persist_meta_save(p);
    }
    pthread_mutex_unlock(&p->lock);
    while (p->files) {
        p->files->refs = 1;
        pthread_mutex_lock(&p->lock);
        {
            struct pfile *f = p->files;
            if (f->fd >= 0)
                close(f->fd);
            f->fd = -1;
            p->files = f->next;
            free(f->path);
            free(f->pin.path);
            free(f->hidden);
            free(f);
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&p->lock);
    persist_streams_close(p); /* the files' references went with them; joins readaheads */
    pthread_mutex_unlock(&p->lock);
    free(p->last_hide.path);
    free(p->last_hide.hidden);
    persist_map_clear(&p->hide_alias, free);
    persist_map_clear(&p->changes, persist_change_free);
    persist_map_clear(&p->meta, free);
    persist_map_clear(&p->prov_dirs, NULL);
    persist_manifest_free(p->prov_mf);
    persist_map_clear(&p->jdirty, NULL);
    persist_map_clear(&p->below, NULL);
    persist_nlink_free(p);
    if (p->jfd >= 0)
        close(p->jfd);
    if (p->dir_fd >= 0)
        close(p->dir_fd); /* and with it the flock */
    persist_base_clear(p);
    free(p->garbage);
    free(p->unflushed);
    if (p->remote.ops)
        p->remote.ops->free(p->remote.ctx);
    pthread_cond_destroy(&p->cond);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    free(p->dir);
    free(p);
}
