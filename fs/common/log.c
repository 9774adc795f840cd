/* spacefs_log: one logging function for the whole program, to stderr (foreground) or syslog. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

#include "common.h"

static enum spacefs_log_level max_level = SPACEFS_WARN;
static int to_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void spacefs_log_setup(enum spacefs_log_level level, int use_syslog)
{
    max_level = level;
    to_syslog = use_syslog;
    if (use_syslog)
        openlog("spacefs", LOG_PID, LOG_DAEMON);
}

void spacefs_log(enum spacefs_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    char msg[1024];
    va_list ap;

    if (level > max_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (to_syslog) {
        syslog(prio[level], "%s", msg);
        return;
    }
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "spacefs: %s: %s\n", names[level], msg);
    pthread_mutex_unlock(&log_lock);
}
