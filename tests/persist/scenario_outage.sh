#!/bin/bash
# persist/ through a Hub outage: hubd is stopped and stays down longer than the listing ttl
# (2 s in these tests, 5 s by default); writes, closes, renames, deletes and reads go on locally
# and promptly; persist.status shows pending/error with a last_error; fsync (mounted with
# -o fsync=hub; by default fsync is local and works offline, fs.unit) and
# `echo sync > control` fail with an errno within their timeout instead of hanging; hubd comes
# back on the same port and state; `echo sync > control` succeeds and every file is on the Hub
# as @huggingface/hub (downloadFile, listFiles) sees it.
. "$(dirname "$0")/scenario_lib.sh"
require_fuse
require_node
hub_start
mount_persist "$WORK/cache" "persist_sync_timeout=20,fsync=hub"
O="$P/outage"

section "before the outage"
mkdir -p "$O"
echo "base one" >"$O/base1.txt"
echo "base two" >"$O/base2.txt"
check_eq "initial sync" OK "$(psync 60)"
check_eq "fixture file read (now cached)" hello "$(cat "$P/notes.txt")"
C0=$(ds_commits)

section "hub down: local writes go on"
hub_stop
hub_save_logs
check_eq "hubd is down" 000 "$(curl -s -o /dev/null -w '%{http_code}' "$HUB/api/whoami-v2")"
sleep 3 # past the listing ttl: the Space directory must stay reachable without the Hub
t=$(ms)
R=$(timeout 30 bash -c 'printf "offline file 1\n" >"$1" && echo OK' _ "$O/off-1.txt" 2>&1)
dt=$(($(ms) - t))
check_eq "a write after the listing ttl expired offline ($dt ms)" OK "$R"
if [ "$R" != OK ]; then
  fail "persist/ unusable while the Hub is down: the remaining offline checks are not run" "$(tail -2 "$WORK/spacefs.err" | tr '\n' ' ')"
else
t=$(ms)
for i in $(seq 2 12); do printf 'offline file %d\n' "$i" >"$O/off-$i.txt"; done
head -c 1500000 /dev/urandom >"$WORK/big1.bin"
head -c 2500000 /dev/urandom >"$WORK/big2.bin"
cp "$WORK/big1.bin" "$O/big1.bin"
cp "$WORK/big2.bin" "$O/big2.bin"
mv "$O/off-12.txt" "$O/renamed-12.txt"
rm "$O/base2.txt"
echo "changed offline" >"$O/base1.txt"
mkdir "$O/sub"
echo nested >"$O/sub/nested.txt"
dt=$(($(ms) - t))
echo "# 11 writes, 2 LFS copies, rename, delete, overwrite, mkdir while the Hub is down: $dt ms"
check "they all returned within 10 s" test "$dt" -lt 10000
check_eq "a file written offline reads back" "offline file 3" "$(cat "$O/off-3.txt")"
check_eq "LFS-sized file written offline reads back" "$(sha256sum <"$WORK/big2.bin")" "$(sha256sum <"$O/big2.bin")"
check_eq "listing offline" "base1.txt big1.bin big2.bin off-1.txt off-10.txt off-11.txt off-2.txt off-3.txt off-4.txt off-5.txt off-6.txt off-7.txt off-8.txt off-9.txt renamed-12.txt sub" \
  "$(ls "$O" | LC_ALL=C sort | xargs)"
check_eq "cached base file still readable" hello "$(cat "$P/notes.txt")"
if wait_state 'pending|error' 15; then pass "state pending/error: $(pstat state)"; else fail "state pending/error" "$(pstat state)"; fi
t=$(ms)
while [ -z "$(pstat last_error)" ] && [ $(($(ms) - t)) -lt 15000 ]; do sleep 0.2; done
check_match "last_error says why" "." "$(pstat last_error)"
ST=$(cat "$SPC/persist.status")
echo "# persist.status offline: $(tr '\n' ' ' <<<"$ST")"
check_eq "persist.status has the documented keys" "bytes files last_commit last_error repo state" \
  "$(sed -n 's/^\(state\|files\|bytes\|last_commit\|last_error\|repo\): .*/\1/p' <<<"$ST" | sort | xargs)"
check "files counts the pending changes ($(pstat files))" test "$(pstat files)" -ge 16
fi

section "fsync and sync fail with an errno while the Hub is down"
t=$(ms)
R=$(python3 - "$O/fsynced.txt" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"fsynced offline\n")
except OSError as e:
    sys.exit("open/write: " + errno.errorcode.get(e.errno, str(e.errno)))
try:
    os.fsync(fd)
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
os.close(fd)
PY
)
dt=$(($(ms) - t))
check_match "fsync offline fails with an errno (got $R after $dt ms)" "^E[A-Z]+$" "$R"
check "fsync gave up within 30 s" test "$dt" -lt 30000
t=$(ms)
R=$(psync 60)
dt=$(($(ms) - t))
check_match "echo sync > control offline fails (got '$R' after $dt ms)" "^rc=1 " "$R"
check "sync gave up within 30 s" test "$dt" -lt 30000
check_eq "the file fsync failed on is kept" "fsynced offline" "$(cat "$O/fsynced.txt")"

section "hub back on the same port and state"
hub_start --port "${HUB##*:}"
t=$(ms)
check_eq "echo sync > control" OK "$(psync 120)"
echo "# sync after the Hub came back: $(($(ms) - t)) ms"
check_eq "clean" clean "$(pstat state)"
check_eq "no error left" "" "$(pstat last_error)"
check_eq "nothing pending" 0 "$(pstat files)"

section "everything arrived (@huggingface/hub)"
FILES=$(hfjs files | grep '^outage/' | awk '{print $1}' | xargs)
check_eq "listFiles shows exactly the offline result" "outage/base1.txt outage/big1.bin outage/big2.bin outage/fsynced.txt outage/off-1.txt outage/off-10.txt outage/off-11.txt outage/off-2.txt outage/off-3.txt outage/off-4.txt outage/off-5.txt outage/off-6.txt outage/off-7.txt outage/off-8.txt outage/off-9.txt outage/renamed-12.txt outage/sub/nested.txt" "$FILES"
want=""; got=""
for f in $FILES; do
  want="$want ${f} $(sha256sum <"$O/${f#outage/}" | cut -c1-64)"
done
got=$(hfjs sha $FILES | xargs)
check_eq "downloadFile content of every file equals the local one" "$(xargs <<<"$want")" "$got"
check_eq "big files are LFS" "lfs lfs" "$(hfjs files | grep '^outage/big' | awk '{print $3}' | xargs)"
check_eq "overwrite offline arrived" "changed offline" "$(api "/datasets/$DS/resolve/main/outage/base1.txt")"
N=$(( $(ds_commits) - C0 ))
check "the outage's changes took few commits ($N)" test "$N" -ge 1 -a "$N" -le 3

scenario_finish
