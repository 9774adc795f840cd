#!/bin/bash
# The hostile-input fixes of issue 13, against the emulator with the real binary: HF_TOKEN gone
# from the daemon's environment, token file modes (warn on readable, refuse writable/foreign),
# cache_dir components checked for owner and mode, plain http to another host refused, and
# what -o allow_other with umask=/uid=/gid= gives another local user (docs/security.md).
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
[ "$(id -u)" -eq 0 ] || skip "needs root to create files owned by another user (chown)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is missing"
hub_start
EP="endpoint=$HUB,timeout=5"
chmod 711 "$WORK"

# run_spacefs ARGS...: a mount that is expected to be refused; prints its stderr, returns its code
run_refused() {
  local rc
  timeout 20 "$SPACEFS" "$MNT" -f "$@" >"$WORK/refused.out" 2>&1
  rc=$?
  cat "$WORK/refused.out"
  return $rc
}
# wait_mounted: until $MNT is mounted (0) or spacefs $FS_PID died (1); 60 s under a loaded CPU
wait_mounted() {
  local i
  for i in $(seq 600); do
    grep -q " $MNT fuse.spacefs " /proc/mounts && return 0
    kill -0 "$FS_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
mkdir -p "$MNT"
printf '%s\n' "$TOKEN" >"$WORK/token"
chmod 600 "$WORK/token"

# --- HF_TOKEN leaves the environment -----------------------------------------------------
HF_TOKEN=$TOKEN "$SPACEFS" "$MNT" -f -o "$EP,cache_dir=$WORK/cache" 2>>"$WORK/spacefs.err" &
FS_PID=$!
at_exit unmount_fs
wait_mounted
check "mounted with HF_TOKEN" grep -q " $MNT fuse.spacefs " /proc/mounts
check_eq "HF_TOKEN is not in /proc/PID/environ" 0 "$(tr '\0' '\n' </proc/$FS_PID/environ | grep -c '^HF_TOKEN=')"
check_eq "nor the token's value" 0 "$(grep -ac "$TOKEN" /proc/$FS_PID/environ)"
check_eq "nor the command line" 0 "$(grep -ac "$TOKEN" /proc/$FS_PID/cmdline)"
check_eq "whoami works with it" "name: alice" "$(head -1 "$MNT/.spacefs/whoami")"
# persist/ loads the token again on first use: it must still find it (kept in a memory file)
echo "kept" >"$MNT/alice/chat/persist/env-token.txt"
check "persist/ commits with the token HF_TOKEN gave" sh -c "echo sync > '$MNT/alice/chat/control'"
check_eq "the Hub has the file" "kept" \
  "$(curl -s -H "Authorization: Bearer $TOKEN" "$HUB/datasets/alice/chat-persist/resolve/main/env-token.txt")"
unmount_fs

# --- token file modes --------------------------------------------------------------------
chmod 644 "$WORK/token"
mount_fs_file() { # mount with $WORK/token as is (mount_fs rewrites it 0600)
  "$SPACEFS" "$MNT" -f -o "$EP,token_file=$WORK/token,cache_dir=$WORK/cache" 2>>"$WORK/spacefs.err" &
  FS_PID=$!
  wait_mounted
}
: >"$WORK/spacefs.err"
check "a token file readable by others (0644, old huggingface_hub) still mounts" mount_fs_file
check_match "with one warning that says what to run" "warning: token file $WORK/token is readable by group or others \(mode 644\); run chmod 600 $WORK/token" "$(cat "$WORK/spacefs.err")"
check_eq "the warning is logged once" 1 "$(grep -c 'is readable by group or others' "$WORK/spacefs.err")"
unmount_fs
chmod 664 "$WORK/token"
OUT=$(run_refused -o "$EP,token_file=$WORK/token,cache_dir=$WORK/cache")
check_eq "a group-writable token file is refused" 1 $?
check_match "saying what to run" "refusing it: run chown 0 $WORK/token && chmod 600 $WORK/token" "$OUT"
chmod 600 "$WORK/token"; chown 65534 "$WORK/token"
OUT=$(run_refused -o "$EP,token_file=$WORK/token,cache_dir=$WORK/cache")
check_eq "a token file owned by another user is refused" 1 $?
check_match "naming the owner" "owned by uid 65534" "$OUT"
chown 0 "$WORK/token"

# --- cache_dir: every component checked ------------------------------------------------
SHARED="$WORK/shared"
mkdir -p "$SHARED" "$WORK/victim"; chmod 1777 "$SHARED"; chown 65534 "$WORK/victim"
ln -s "$WORK/victim" "$SHARED/x"; chown -h 65534 "$SHARED/x"
OUT=$(run_refused -o "$EP,token_file=$WORK/token,cache_dir=$SHARED/x")
check_eq "cache_dir: another user's symlink in /tmp-like dir is refused" 1 $?
check_match "with a clear message" "refusing the cache directory $SHARED/x: $SHARED/x is a symbolic link owned by uid 65534" "$OUT"
check_eq "nothing was created in its target" "" "$(ls -A "$WORK/victim")"
rm "$SHARED/x"; mkdir "$SHARED/y"; chown 65534 "$SHARED/y"
OUT=$(run_refused -o "$EP,token_file=$WORK/token,cache_dir=$SHARED/y/cache")
check_eq "cache_dir inside another user's directory is refused" 1 $?
check_match "naming it" "$SHARED/y is owned by uid 65534" "$OUT"
mkdir -m 775 "$WORK/gw"; chmod 775 "$WORK/gw"
OUT=$(run_refused -o "$EP,token_file=$WORK/token,cache_dir=$WORK/gw")
check_eq "a group-writable cache_dir is refused" 1 $?
check_match "with the command to run" "mode 0775\): they could replace what is inside; run chmod go-w $WORK/gw" "$OUT"
ln -s "$WORK/mine" "$SHARED/mylink"; mkdir -m 700 "$WORK/mine"
"$SPACEFS" "$MNT" -f -o "$EP,token_file=$WORK/token,cache_dir=$SHARED/mylink" 2>>"$WORK/spacefs.err" &
FS_PID=$!
wait_mounted
check "my own symlink in a sticky dir to my own dir is fine" grep -q " $MNT fuse.spacefs " /proc/mounts
unmount_fs
"$SPACEFS" "$MNT" -f -o "$EP,token_file=$WORK/token,cache_dir=$SHARED/fresh/a" 2>>"$WORK/spacefs.err" &
FS_PID=$!
wait_mounted
check_eq "a fresh cache_dir under a sticky dir is created 0700" "700 700" "$(stat -c %a "$SHARED/fresh" "$SHARED/fresh/a" | xargs)"
unmount_fs

(cd "$WORK" && exec "$SPACEFS" "$MNT" -f -o "$EP,token_file=$WORK/token,cache_dir=./rel/./c/." 2>>"$WORK/spacefs.err") &
FS_PID=$!
wait_mounted
check_eq "a relative cache_dir with . components is made 0700 below the cwd" "700 700" "$(stat -c %a "$WORK/rel" "$WORK/rel/c" 2>&1 | xargs)"
unmount_fs
OUT=$(run_refused -o "$EP,token_file=$WORK/token,cache_dir=$WORK/rel/../x")
check_eq "a cache_dir with .. is refused" 1 $?
check_match "saying so" "use a path without \.\. components" "$OUT"

# --- plain http to another host --------------------------------------------------------
t0=$(ms)
OUT=$(run_refused -o "endpoint=http://192.0.2.1:9,timeout=5,token_file=$WORK/token,cache_dir=$WORK/cache")
check_eq "http:// to a non-loopback host with a token is refused" 1 $?
check_match "saying why and what to do" "refusing the endpoint http://192.0.2.1:9: plain http to another machine would send the token unencrypted; use https://, or -o allow_http" "$OUT"
check "before any connection (no 5 s timeout)" test $(($(ms) - t0)) -lt 3000
OUT=$(HF_ENDPOINT=http://user@[2001:db8::1]:80/x run_refused -o "timeout=5,token_file=$WORK/token,cache_dir=$WORK/cache")
check_eq "also from HF_ENDPOINT and IPv6" 1 $?
for ep in http://127.0.0.1.evil.example http://localhost.evil.example http://127.0.0.1:80@evil.example/; do
  OUT=$(run_refused -o "endpoint=$ep,timeout=5,token_file=$WORK/token,cache_dir=$WORK/cache")
  check_eq "$ep is not this machine: refused" "1 refusing the endpoint" "$? $(grep -o 'refusing the endpoint' <<<"$OUT")"
done
IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | grep -m1 '^[0-9.]*$')
if [ -n "$IP" ]; then
  # the same emulator, reached through this machine's own non-loopback address
  hub_stop
  HUB_STATE=$WORK/state hub_start --host 0.0.0.0
  "$SPACEFS" "$MNT" -f -o "endpoint=http://$IP:${HUB##*:},timeout=5,token_file=$WORK/token,cache_dir=$WORK/cache,allow_http" 2>>"$WORK/spacefs.err" &
  FS_PID=$!
  wait_mounted
  check_eq "-o allow_http mounts it" "name: alice" "$(head -1 "$MNT/.spacefs/whoami")"
  check_match "with a warning" "warning: http://$IP:[0-9]+ is plain http: the token crosses the network unencrypted" "$(cat "$WORK/spacefs.err")"
  unmount_fs
else
  echo "note: no non-loopback IPv4 address here; -o allow_http end-to-end part not run"
fi

# --- -o allow_other: what another user sees ---------------------------------------------
chmod 755 "$MNT"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
mount_other() {
  "$SPACEFS" "$MNT" -f -o "endpoint=$HUB,timeout=5,token_file=$WORK/token,cache_dir=$WORK/cache,allow_other$1" 2>>"$WORK/spacefs.err" &
  FS_PID=$!
  wait_mounted
}
A="$MNT/alice/chat"
mount_other ""
check_eq "allow_other: others read status" RUNNING "$(as_nobody cat "$A/status")"
check_eq "and persist/ files (documented in security.md)" kept "$(as_nobody cat "$A/persist/env-token.txt")"
nobody_errno() { as_nobody bash -c "$(declare -f errno_of); errno_of $1 '$2' '${3:-}'"; }
check_eq "but never write control" EACCES "$(nobody_errno write "$A/control" restart)"
check_eq "nor read a secret" EACCES "$(nobody_errno read "$A/secrets/OPENAI_API_KEY")"
unmount_fs
mount_other ",umask=077"
check_eq "allow_other,umask=077: others are shut out" EACCES "$(nobody_errno read "$A/status")"
check_eq "the owner still reads" RUNNING "$(cat "$A/status")"
check_eq "and spacefs still enforces the real modes (status stays read-only)" EACCES "$(errno_of write "$A/status" x)"
unmount_fs
mount_other ",umask=027,gid=65534"
check_eq "umask=027,gid=G: group G reads" RUNNING "$(as_nobody cat "$A/status")"
check_eq "shown as group G" "65534 750" "$(stat -c '%g %a' "$A/status")"
unmount_fs
finish_fs
