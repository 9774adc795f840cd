/* The router's table: every subtree of the filesystem, in the order a Space directory lists
 * their entries. The only file that names them all (router.h describes each). */
#include "router.h"

const struct spacefs_subtree_ops *const spacefs_subtrees[] = {
    &spacefs_listing_ops, /* [0]: / and /<ns> */
    &spacefs_space_ops,   /* [1]: /<ns>/<space> and its files */
    &spacefs_kv_ops,        &spacefs_logs_ops, &spacefs_persist_ops,
    &spacefs_snapshots_ops, &spacefs_meta_ops};
const size_t spacefs_subtrees_count = sizeof(spacefs_subtrees) / sizeof(spacefs_subtrees[0]);

_Static_assert(sizeof(spacefs_subtrees) / sizeof(spacefs_subtrees[0]) <= ROUTER_SUBTREES_MAX,
               "fs_internal.h: ROUTER_SUBTREES_MAX");
