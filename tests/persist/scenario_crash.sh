#!/bin/bash
# Crash consistency of persist/, after JuiceFS's crash_consistency.sh: two writers keep manifests
# (one fsyncs every file, mounted with -o fsync=hub: acknowledged = on the Hub; one only closes:
# acknowledged = on local disk, which is also what fsync acknowledges by default (fs.unit),
# and rewrites earlier files), LFS uploads are slowed so the kill lands mid-upload, the daemon is
# killed with -9, the Hub is checked for every fsynced file before anything restarts, the mount
# comes back on the same cache and every entry is verified, then `echo sync > control`, unmount,
# a mount from an EMPTY cache and a git clone + git lfs pull verify everything again.
# CRASH_SEED=N reproduces the writers' choices (timing still varies).
. "$(dirname "$0")/scenario_lib.sh"
require_fuse
SEED=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "# CRASH_SEED=$SEED"
hub_start
MF="$WORK/manifest.fsync" MC="$WORK/manifest.close"
CW="$PDIR/crash_writer.py"

section "mount, write, kill -9"
mount_persist "$WORK/cache1" "persist_interval=1,fsync=hub"
check_eq "fixture file readable in persist/" hello "$(cat "$P/notes.txt")"
# Every LFS PUT and every commit takes a while: uploads are in flight when the kill comes.
hub_fault '{"method":"PUT","path":"^/lfs-storage/","action":"latency","latency_ms":150,"count":-1}'
hub_fault '{"method":"POST","path":"/commit/","action":"latency","latency_ms":100,"count":-1}'
python3 "$CW" write "$P" crash "$MF" --mode fsync --seed "$SEED" --big-every 3 >"$LOGS/writer.fsync" 2>&1 &
WF=$!
python3 "$CW" write "$P" crash "$MC" --mode close --seed "$((SEED + 1))" --big-every 20 --rewrite-every 5 \
  --pause-ms 30 >"$LOGS/writer.close" 2>&1 &
WC=$!
sleep 6
# On a loaded machine over the realworld link (TLS, ~50 ms round trips, and the latencies above)
# one fsync=hub round can take seconds: the kill waits for the floors checked below (up to a
# minute), so that it still lands mid-write rather than before there is anything to check.
acked() { cat "$1" 2>/dev/null | grep -c '^DONE'; }
for i in $(seq 1 300); do
  [ "$(acked "$MF")" -ge 3 ] && [ "$(acked "$MC")" -ge 20 ] && break
  sleep 0.2
done
caught=no
for i in $(seq 1 100); do
  [ "$(pstat state)" = uploading ] && { caught=yes; break; }
  sleep 0.05
done
cp "$SPC/persist.status" "$WORK/status.at_kill"
kill_mount_hard
wait $WF $WC
cat "$LOGS/writer.fsync" "$LOGS/writer.close"
NF=$(grep -c '^DONE' "$MF") NC=$(grep -c '^DONE' "$MC")
PENDING=$(sed -n 's/^files: //p' "$WORK/status.at_kill")
echo "# killed with state=$(sed -n 's/^state: //p' "$WORK/status.at_kill") pending_files=$PENDING (uploading caught: $caught); acknowledged: $NF fsynced, $NC closed"
check "the kill landed with changes not yet committed (the replay is exercised)" test "${PENDING:-0}" -gt 0
check "at least 3 files were fsynced before the kill" test "$NF" -ge 3
check "at least 20 closes were acknowledged before the kill" test "$NC" -ge 20
check "the writers were stopped by the kill (still writing)" \
  grep -q "stopped at file" "$LOGS/writer.fsync" "$LOGS/writer.close"
hub_faults_clear

section "every fsynced file is on the Hub before any remount"
if ds_clone "$WORK/clone1"; then pass "git clone + git lfs pull"; else fail "git clone + git lfs pull" "$(tail -3 "$LOGS/git.log")"; fi
R=$(manifest_verify "$WORK/clone1" "$MF" --only-done)
check_match "fsynced files in the clone: $(head -1 <<<"$R")" "^ok=$NF bad=0 missing=0" "$R"

section "remount on the same cache"
mount_persist "$WORK/cache1"
R=$(manifest_verify "$P" "$MF" "$MC" --no-extra crash)
check_match "every acknowledged entry through the mount: $(head -1 <<<"$R")" "bad=0 missing=0$" "$(head -1 <<<"$R")"
[[ $(head -1 <<<"$R") =~ bad=0\ missing=0$ ]] || echo "$R"
check_match "persist.status after recovery has a state" "^(clean|pending|uploading|error)$" "$(pstat state)"
t=$(ms)
check_eq "echo sync > control" OK "$(psync 120)"
echo "# sync after recovery: $(($(ms) - t)) ms"
check_eq "clean after sync" clean "$(pstat state)"
check_eq "nothing pending" 0 "$(pstat files)"
check_eq "no error" "" "$(pstat last_error)"
unmount_fs

section "mount from an empty cache"
mount_persist "$WORK/cache2"
R=$(manifest_verify "$P" "$MF" "$MC" --no-extra crash)
check_match "every acknowledged entry from the Hub: $(head -1 <<<"$R")" "bad=0 missing=0$" "$(head -1 <<<"$R")"
[[ $(head -1 <<<"$R") =~ bad=0\ missing=0$ ]] || echo "$R"
check_eq "fixture files kept" "hello" "$(cat "$P/notes.txt")"
unmount_fs

section "git clone + git lfs pull"
if ds_clone "$WORK/clone2"; then pass "git clone + git lfs pull"; else fail "git clone + git lfs pull" "$(tail -3 "$LOGS/git.log")"; fi
R=$(manifest_verify "$WORK/clone2" "$MF" "$MC" --no-extra crash)
check_match "every acknowledged entry in git: $(head -1 <<<"$R")" "bad=0 missing=0$" "$(head -1 <<<"$R")"
BIG=$(cd "$WORK/clone2" && find crash -type f -size +1000k | sort | xargs)
BIG_LFS=$(cd "$WORK/clone2" && for f in $BIG; do git lfs ls-files -n | grep -qxF "$f" && echo "$f"; done | xargs)
check "there are files over 1 MB ($(wc -w <<<"$BIG"))" test -n "$BIG"
check_eq "every file over 1 MB is an LFS object" "$BIG" "$BIG_LFS"
check_eq "no LFS pointer left unresolved" 0 "$(cd "$WORK/clone2" && grep -rl --include='*.bin' '^version https://git-lfs' crash 2>/dev/null | wc -l)"

scenario_finish
