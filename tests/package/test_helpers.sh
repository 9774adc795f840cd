#!/bin/bash
# mount-helpers/ against the emulator: spacefs-sync (progress on a terminal, silence in cron, exit
# codes 0/1/2/3), and every example systemd unit run the way systemd would run it (systemd is not
# running here): each unit's ExecStartPre/ExecStart/ExecStop lines are read from the unit file,
# their specifiers (%h %i %I $MAINPID ${CREDENTIALS_DIRECTORY} ${CACHE_DIRECTORY}) filled in, and run.
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
command -v script >/dev/null || skip "script (util-linux) is missing: no pseudo-terminal"
hub_start
H="$SPACEFS_SOURCE_DIR/mount-helpers"
SYNC="$H/spacefs-sync"
api() { curl -sL -H "Authorization: Bearer $TOKEN" "$HUB$1"; }

# --- spacefs-sync -----------------------------------------------------------------------------
mount_fs "$TOKEN" "cache_dir=$WORK/cache,persist_quiet=0.5,persist_interval=0.5,unmount_wait=2"
A="$MNT/alice/chat"
OUT=$("$SYNC" "$WORK" 2>&1)
check_eq "not a Space: exit 1" 1 $?
check_match "saying so" "is not inside a Space of a spacefs mount" "$OUT"
check_eq "no PATH: usage, exit 1" 1 "$("$SYNC" 2>/dev/null; echo $?)"
OUT=$("$SYNC" "$A" 2>&1)
check_eq "clean already: exit 0" 0 $?
check_eq "silently without a terminal" "" "$OUT"

# a slow commit, so the terminal shows the upload in progress
head -c 3000000 /dev/urandom >"$WORK/blob"
hub_fault '{"method":"POST","path":"/commit/","action":"latency","latency_ms":2500,"count":1}'
cp "$WORK/blob" "$A/persist/blob.bin"
echo "small" >"$A/persist/small.txt"
script -qefc "'$SYNC' '$A/persist/small.txt'" /dev/null >"$WORK/tty.out" 2>&1
check_eq "on a terminal: exit 0 once clean" 0 $?
TTY=$(tr '\r' '\n' <"$WORK/tty.out" | sed 's/\x1b\[K//g')
check_match "a progress line: bytes of pending, files" "alice/chat: (uploading [0-9.]+ (B|KiB|MiB) of 2\.9 MiB(, [0-9.]+ (B|KiB|MiB)/s)?, 2 files|pending 2\.9 MiB in 2 files)" "$TTY"
check_match "with the upload rate while uploading" "uploading [0-9.]+ (B|KiB|MiB) of 2\.9 MiB, [0-9.]+ (B|KiB|MiB)/s, 2 files" "$TTY"
check_match "ending with clean" "alice/chat: clean$" "$(tail -1 <<<"$TTY")"
check_eq "persist.status is clean" "state: clean" "$(head -1 "$A/persist.status")"
check_eq "and the Hub has the file" "$(sha256sum <"$WORK/blob")" "$(api /datasets/alice/chat-persist/resolve/main/blob.bin | sha256sum)"

# cron: nothing on stdout/stderr when all goes well
echo "again" >"$A/persist/small.txt"
OUT=$("$SYNC" "$A" 2>&1 </dev/null)
check_eq "without a terminal: exit 0" 0 $?
check_eq "and no output" "" "$OUT"
check_eq "the change is on the Hub" "again" "$(api /datasets/alice/chat-persist/resolve/main/small.txt)"

# timeout while the Hub refuses every commit: exit 3 with the error
hub_fault '{"method":"POST","path":"/commit/","status":500,"count":-1}'
echo "refused" >"$A/persist/small.txt"
OUT=$("$SYNC" -t 4 "$A" 2>&1)
check_eq "timed out with a failing upload: exit 3" 3 $?
check_match "printing the Space and the last error" "spacefs-sync: timed out after 4s: alice/chat: .* last upload failed: .+" "$OUT"
hub_faults_clear
unmount_fs

# timeout while changes wait for a quiet period: exit 2
mount_fs "$TOKEN" "cache_dir=$WORK/cache,persist_quiet=60,persist_interval=60"
echo "later" >"$A/persist/later.txt"
OUT=$("$SYNC" -t 2 "$A" 2>&1)
check_eq "timed out while pending: exit 2" 2 $?
check_match "saying what is pending" "timed out after 2s: alice/chat: pending .* in [0-9]+ files" "$OUT"
unmount_fs

# --- the systemd units, run as systemd would -------------------------------------------------
BIN="$WORK/bin"
MAINPID=""
mkdir -p "$BIN" "$WORK/home"
ln -s "$SPACEFS" "$BIN/spacefs"
ln -s "$H/spacefs-sync" "$BIN/spacefs-sync"
ln -s "$H/spacefs-restart-wait" "$BIN/spacefs-restart-wait"
# unit_lines UNIT KEY INSTANCE: the KEY= command lines of mount-helpers/UNIT(.in), specifiers
# filled in as systemd would for instance INSTANCE (the unescaped name, %I)
unit_lines() {
  local f="$H/$1" inst=$3 esc
  [ -f "$f" ] || f="$f.in"
  esc=$(systemd-escape "$inst" 2>/dev/null || echo "${inst//\//-}")
  sed -n "s/^$2=[-+!:]*//p" "$f" | sed -e "s|@BINDIR@|$BIN|g" -e "s|%h|$WORK/home|g" \
    -e "s|%I|$inst|g" -e "s|%i|$esc|g" -e "s|/srv/spacefs/|$WORK/srv/|g" \
    -e "s|\${CREDENTIALS_DIRECTORY}|$WORK/cred|g" -e "s|\${CACHE_DIRECTORY}|$WORK/syscache|g" \
    -e "s|\$MAINPID|$MAINPID|g"
}
# run_unit UNIT KEY INSTANCE: runs those lines in order, like a oneshot; stops at a failure
run_unit() {
  local line
  while IFS= read -r line; do
    eval "$line" || return $?
  done < <(unit_lines "$@")
}
wait_mount() {
  local i
  for i in $(seq 600); do grep -q " $1 fuse.spacefs " /proc/mounts && return 0; sleep 0.1; done
  return 1
}
check_eq "the user unit has one ExecStart" 1 "$(unit_lines spacefs@.service ExecStart main | wc -l)"

# spacefs@main (user): the drop-in the README shows sets HF_ENDPOINT and HF_TOKEN_PATH
printf '%s\n' "$TOKEN" >"$WORK/home/token"; chmod 600 "$WORK/home/token"
export HF_ENDPOINT=$HUB HF_TOKEN_PATH=$WORK/home/token HOME=$WORK/home XDG_CACHE_HOME=$WORK/home/.cache
run_unit spacefs@.service ExecStartPre main
eval "$(unit_lines spacefs@.service ExecStart main)" 2>>"$WORK/spacefs.err" &
MAINPID=$!
FS_PID=$MAINPID MNT=$WORK/home/hf/main
check "spacefs@main mounts ~/hf/main" wait_mount "$MNT"
hub_stats_reset
check "spacefs-ping@alice-chat runs" run_unit spacefs-ping@.service ExecStart alice/chat
check_eq "it visited the app once" 1 "$(hub_stats | jq '[.routes | to_entries[] | select(.key | startswith("APP")) | .value.count] | add')"
check_eq "and restarted nothing" 0 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
check "spacefs-restart@alice-chat runs and waits for RUNNING" run_unit spacefs-restart@.service ExecStart alice/chat
check_eq "one restart sent" 1 "$(hub_count 'POST /api/spaces/{ns}/{name}/restart')"
echo "row 1" >"$MNT/alice/chat/persist/backup-me.txt"
run_unit spacefs-backup@.service ExecStartPre alice/chat
check "spacefs-backup@alice-chat: sync, then rsync" run_unit spacefs-backup@.service ExecStart alice/chat
check_eq "the backup has the file" "row 1" "$(cat "$WORK/home/backup/alice/chat/backup-me.txt" 2>&1)"
check_eq "and it was committed first" "row 1" "$(api /datasets/alice/chat-persist/resolve/main/backup-me.txt)"
# stopping the user unit right after a write: ExecStop returns once the upload is done
echo "written just before stop" >"$MNT/alice/chat/persist/at-stop.txt"
run_unit spacefs@.service ExecStop main
check "ExecStop returned after spacefs exited" sh -c "! kill -0 $MAINPID 2>/dev/null"
check_eq "with the last write on the Hub" "written just before stop" "$(api /datasets/alice/chat-persist/resolve/main/at-stop.txt)"
wait "$MAINPID" 2>/dev/null
FS_PID=""

# spacefs-system@root: the service-account unit, token as a systemd credential
mkdir -p "$WORK/cred" "$WORK/syscache"
chmod 700 "$WORK/syscache"
printf '%s\n' "$TOKEN" >"$WORK/cred/token"; chmod 400 "$WORK/cred/token"
unset HF_TOKEN_PATH
ME=$(id -un)
run_unit spacefs-system@.service ExecStartPre "$ME"
eval "$(unit_lines spacefs-system@.service ExecStart "$ME")" 2>>"$WORK/spacefs.err" &
MAINPID=$!
FS_PID=$MAINPID MNT=$WORK/srv/$ME
check "spacefs-system@$ME mounts /srv/spacefs/$ME" wait_mount "$MNT"
check_eq "the cache is in CacheDirectory" "yes" "$(ls -d "$WORK/syscache/"127.0.0.1_* >/dev/null 2>&1 || true; cat "$MNT/alice/chat/persist.status" >/dev/null; ls -d "$WORK/syscache/"127.0.0.1_* >/dev/null 2>&1 && echo yes)"
head -c 4000000 /dev/urandom >"$WORK/blob2"
cp "$WORK/blob2" "$MNT/alice/chat/persist/shutdown.bin"
t0=$(ms)
run_unit spacefs-system@.service ExecStop "$ME"
check "system ExecStop waited until spacefs exited" sh -c "! kill -0 $MAINPID 2>/dev/null"
check_eq "the file written before stop is on the Hub" "$(sha256sum <"$WORK/blob2")" "$(api /datasets/alice/chat-persist/resolve/main/shutdown.bin | sha256sum)"
wait "$MAINPID" 2>/dev/null
FS_PID=""

# every unit parses (systemd-analyze verify, offline), when available
if systemd-analyze --version >/dev/null 2>&1; then
  V="$WORK/verify"; mkdir -p "$V"
  for u in "$SPACEFS_BUILD_DIR"/mount-helpers/*.service "$H"/*.timer; do
    n=$(basename "$u"); cp "$u" "$V/${n/@./@alice-chat.}"
  done
  OUT=$(cd "$V" && timeout 60 systemd-analyze verify ./*.service ./*.timer 2>&1 | grep -v 'is not executable\|Requisite=\|spacefs@main.service' )
  check_eq "systemd-analyze verify finds nothing wrong" "" "$OUT"
fi
finish_fs
