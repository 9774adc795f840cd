#!/bin/bash
# ./dev demo's tour (tests/demo.sh), run without a terminal as the README's newcomer would see
# it: it must mount, walk through a Space, and show persist/ (pending, then clean after sync),
# snapshots/, and an earlier version of app.db restored with cp.
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
OUT=$(SPACEFS_DEMO_DIR="$WORK/demo-mnt" bash "$SPACEFS_SOURCE_DIR/tests/demo.sh" "$SPACEFS_BUILD_DIR" </dev/null 2>&1)
check_eq "the demo runs to the end" 0 $?
OUT=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$OUT")
# has NAME TEXT: the output holds TEXT, lines and all
has() { if [[ $OUT == *"$2"* ]]; then pass "$1"; else fail "$1" "no [$2] in the demo's output"; fi; }
has "it reads every status" $'$ cat demo-mnt/alice/*/status\nRUNNING\n'
has "persist.status shows pending after cp" $'$ cp app.db demo-mnt/alice/chat/persist/ && head -3 demo-mnt/alice/chat/persist.status\nstate: pending\nfiles: 1\n'
has "and clean after echo sync" $'$ echo sync > demo-mnt/alice/chat/control && head -3 demo-mnt/alice/chat/persist.status\nstate: clean\nfiles: 0\nbytes: 0\n'
check_match "snapshots/ lists commits" $'snapshots/   # one directory per commit, newest last\n([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}Z-[0-9a-f]{7}\n){2,}' "$OUT"
has "the earlier version restored with cp" "/app.db demo-mnt/alice/chat/persist/app.db   # restore the earlier version"
has "the restored database" $'$ notes demo-mnt/alice/chat/persist/app.db\n'
check_eq "has the first note only" "first note" "$(tail -n 1 <<<"$OUT")"
check "the demo unmounted" sh -c "! grep -q ' $WORK/demo-mnt ' /proc/mounts"
finish
