/* safe_dir: makes sure the cache directory (persist/ data, journals, git mirrors) belongs to the
 * mounting user before anything is written there, as ssh checks ~/.ssh and git its
 * safe.directory: no component another user could swap. */
#ifndef SPACEFS_SAFE_DIR_H
#define SPACEFS_SAFE_DIR_H

#include <stddef.h>

/* Checks every component of the absolute `path` and creates the missing ones with mode 0700.
 * A component must be a directory (or a symlink) owned by root or the current user and not
 * writable by group or others, except a sticky parent such as /tmp; a symlink is followed only
 * when root or the user owns it, and its target is checked the same way; the last component
 * must be owned by the user. 0, or -1 with the reason and what to do in msg (msg_len bytes). */
int spacefs_safe_dir_prepare(const char *path, char *msg, size_t msg_len);

#endif
