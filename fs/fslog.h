/* The one logging function of spacefs: levels, printf format checking, stderr or syslog. */
#ifndef SPACEFS_FSLOG_H
#define SPACEFS_FSLOG_H

enum spacefs_log_level { SPACEFS_ERROR = 0, SPACEFS_WARN, SPACEFS_INFO, SPACEFS_DEBUG };

/* Messages above `level` are dropped; use_syslog sends them to syslog instead of stderr. */
void spacefs_log_setup(enum spacefs_log_level level, int use_syslog);
void spacefs_log(enum spacefs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
