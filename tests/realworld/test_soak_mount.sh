#!/usr/bin/env bash
# Months, not minutes (issue 10, item 8), the whole daemon: spacefs mounted with persist/ fetching
# every second, a mixed workload (listings, status, logs, persist/ writes, reads and syncs, remote
# pushes picked up by fetches) for SOAK_SECONDS (default 40; `ctest -L soak` runs 1800), the
# daemon's VmRSS printed every SOAK_EVERY seconds. RSS must be flat after the warm-up (the first
# third): growth below SOAK_MAX_KB (default 4096 KiB for the whole run after warm-up). Under ASan
# the quarantine is off so RSS tracks live memory; LeakSanitizer still checks at unmount.
. "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
SECS=${SOAK_SECONDS:-40}
EVERY=${SOAK_EVERY:-5}
MAXKB=${SOAK_MAX_KB:-4096}
export ASAN_OPTIONS="quarantine_size_mb=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
mount_fs "$TOKEN" "cache_dir=$CACHE,persist_quiet=1,persist_interval=1,persist_ttl=1,persist_sync_timeout=60,unmount_wait=10"
S="$MNT/alice/chat"
P="$S/persist"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$FS_PID/status"; }
# the split: heap and stacks (RssAnon) vs mapped files such as the mirror's packs (RssFile)
rss_split() { awk '/^Rss(Anon|File):/ {printf "%s%s=%s", sep, tolower(substr($1, 4, 4)), $2; sep=" "}' "/proc/$FS_PID/status"; }
ls "$P" >/dev/null
t0=$(date +%s)
i=0
warm=""
samples="$WORK/rss"
: >"$samples"
next=$t0
while [ $(($(date +%s) - t0)) -lt "$SECS" ]; do
  i=$((i + 1))
  ls -l "$MNT/alice" >/dev/null
  cat "$S/status" "$S/runtime.json" >/dev/null
  ls "$P" >/dev/null
  printf 'round %d %s\n' "$i" "$(head -c 3000 /dev/urandom | base64 -w0)" >"$P/soak-$((i % 7)).txt"
  cat "$P/soak-$((i % 7)).txt" >/dev/null
  [ $((i % 5)) -eq 0 ] && sync_space "$S" >/dev/null
  [ $((i % 11)) -eq 0 ] && cat "$S/logs/build" >/dev/null 2>&1
  now=$(date +%s)
  if [ "$now" -ge "$next" ]; then
    r=$(rss)
    echo "t=$((now - t0))s rounds=$i rss_kb=$r ($(rss_split))" | tee -a "$samples"
    [ -z "$warm" ] && [ $((now - t0)) -ge $((SECS / 3)) ] && warm=$r
    next=$((now + EVERY))
  fi
  sleep 0.2
done
end=$(rss)
echo "t=$(($(date +%s) - t0))s rounds=$i rss_kb=$end (warm-up ${warm:-?})"
check_eq "the workload ran ($i rounds)" yes "$([ "$i" -ge 10 ] && echo yes)"
check_eq "the daemon is alive" yes "$(kill -0 "$FS_PID" 2>/dev/null && echo yes)"
growth=$((end - ${warm:-$end}))
check_eq "RSS flat after warm-up: +$growth KiB < $MAXKB KiB" yes "$([ "$growth" -lt "$MAXKB" ] && echo yes)"
check_eq "the last writes reached the Hub" OK "$(sync_space "$S")"
finish_fs
