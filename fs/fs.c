/* The filesystem's life: configuration defaults, creation (each subtree's init), unmount and
 * free, and the counters. Every call in between goes through the router (router.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "router.h"

void spacefs_config_init(struct spacefs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ttl_ms = 5000;
    cfg->whoami_ttl_ms = 600000;
    cfg->flavors_ttl_ms = 3600000;
    cfg->space_sdk = "docker";
    cfg->space_private = 1;
    cfg->uid = getuid();
    cfg->gid = getgid();
    cfg->log_cap = 4 << 20;
    cfg->max_spaces = SPACEFS_MAX_SPACES;
    cfg->persist.repo_pattern = "{ns}/{space}-persist";
    cfg->persist.quiet_ms = 2000;
    cfg->persist.interval_ms = 10000;
    cfg->persist.max_delay_ms = 60000;
    cfg->persist.flush_ms = 5000;
    cfg->persist.ttl_ms = 30000;
    cfg->persist.sync_timeout_ms = 600000;
    cfg->persist.unmount_wait_ms = 30000;
}

int spacefs_fs_new(struct spacefs_fs **out, const struct spacefs_config *cfg,
                   struct spacefs_backend backend)
{
    struct spacefs_fs *fs;

    *out = NULL;
    fs = calloc(1, sizeof(*fs));
    if (!fs) {
        backend.ops->free(backend.ctx);
        return -ENOMEM;
    }
    fs->cfg = *cfg;
    fs->be = backend;
    fs->space_sdk = strdup(cfg->space_sdk ? cfg->space_sdk : "docker");
    fs->cfg.space_sdk = fs->space_sdk;
    fs->started = (int64_t)time(NULL);
    fs->subtrees = spacefs_subtrees;
    fs->nsub = spacefs_subtrees_count;
    if (fs->cfg.log_cap < 4096)
        fs->cfg.log_cap = 4096;
    pthread_mutex_init(&fs->lock, NULL);
    pthread_cond_init(&fs->cond, NULL);
    fs->list_cancel = backend.ops->cancel_new(backend.ctx);
    if (!fs->space_sdk || !fs->list_cancel || router_init(fs) < 0) {
        spacefs_fs_free(fs);
        return -ENOMEM;
    }
    *out = fs;
    return 0;
}

void spacefs_fs_start(struct spacefs_fs *fs)
{
    router_start(fs); /* persist/: engines with changes left by an earlier mount upload */
}

void spacefs_fs_interrupt(struct spacefs_fs *fs)
{
    if (fs && fs->list_cancel)
        fs->be.ops->cancel_trigger(fs->list_cancel); /* an atomic store */
}

void spacefs_fs_shutdown(struct spacefs_fs *fs)
{
    if (fs)
        router_shutdown(fs); /* persist/: bounded wait for pending uploads */
}

void spacefs_fs_free(struct spacefs_fs *fs)
{
    if (!fs)
        return;
    router_free(fs); /* before the backend: the persist engines' remotes borrow its client */
    spacefs_cache_free(fs);
    if (fs->list_cancel)
        fs->be.ops->cancel_free(fs->list_cancel);
    if (fs->be.ops)
        fs->be.ops->free(fs->be.ctx);
    pthread_cond_destroy(&fs->cond);
    pthread_mutex_destroy(&fs->lock);
    free(fs->space_sdk);
    free(fs);
}
