# shellcheck shell=bash
# Helpers shared by the persist/ scenario tests (scenario_*.sh, bench_persist_*.sh): mount the
# real spacefs on the emulator with a given persist cache, kill it like a power loss, sync through
# `control`, read persist.status, check manifests, clone the Dataset with git (credential helper),
# drive @huggingface/hub. Sourced, not run; the token only ever lives in 0600 files.
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"

PDIR="$SPACEFS_SOURCE_DIR/tests/persist"
DS=alice/chat-persist          # the Dataset behind alice/chat's persist/
SPC="$MNT/alice/chat"          # the Space directory
P="$SPC/persist"               # the persist/ directory
LOGS="$WORK/logs"              # output of git, node and helpers (searched for the token at the end)
mkdir -p "$LOGS"
# Options every scenario mounts with unless it overrides them (later options win).
PERSIST_OPTS=${PERSIST_OPTS:-persist_quiet=1,persist_interval=1,persist_ttl=2,persist_sync_timeout=60,unmount_wait=30}
T0=$(ms)

# section NAME: prints the elapsed seconds of the previous section and starts a new one.
_sec_name=""; _sec_t=0
section() {
  [ -n "$_sec_name" ] && printf '# %s: %d.%01d s\n' "$_sec_name" $((($(ms) - _sec_t) / 1000)) $(((($(ms) - _sec_t) % 1000) / 100))
  _sec_name=$1; _sec_t=$(ms)
  [ -n "$1" ] && echo "# --- $1"
  return 0
}

# mount_persist CACHE_DIR [extra options]: mounts with that persist cache and waits until the
# persist/ directory answers (a mount that is not serving must not read as lost data).
mount_persist() {
  local cache=$1 extra=${2:-} i
  mkdir -p "$cache"
  mount_fs "$TOKEN" "cache_dir=$cache,$PERSIST_OPTS${extra:+,$extra}"
  for i in $(seq 1 100); do
    [ -d "$P" ] && [ -r "$SPC/persist.status" ] && return 0
    sleep 0.1
  done
  echo "FATAL: $P does not answer after mounting; refusing to call that data loss"
  tail -20 "$WORK/spacefs.err"
  exit 1
}

# kill_mount_hard: kill -9 the daemon (no unmount, no flush) and detach the dead mount.
kill_mount_hard() {
  [ -n "$FS_PID" ] || { echo "FATAL: no spacefs to kill"; exit 1; }
  kill -0 "$FS_PID" 2>/dev/null || { echo "FATAL: spacefs $FS_PID is not running"; exit 1; }
  kill -9 "$FS_PID"
  wait "$FS_PID" 2>/dev/null
  fusermount3 -u -z "$MNT" 2>/dev/null
  FS_PID=""
  grep -q " $MNT fuse.spacefs " /proc/mounts && { echo "FATAL: dead mount still attached"; exit 1; }
  return 0
}

# pstat KEY: one value of persist.status ("" when absent or "-", the engine's "none").
pstat() { sed -n "s/^$1: //p" "$SPC/persist.status" 2>/dev/null | head -1 | sed 's/^-$//'; }

# psync [timeout s]: `echo sync > control`; prints OK or the shell's error; status as the write's.
psync() {
  local t=${1:-120} rc
  timeout "$t" bash -c 'echo sync >"$1"' _ "$SPC/control" 2>"$WORK/psync.err"
  rc=$?
  if [ $rc -eq 0 ]; then echo OK; else echo "rc=$rc $(tr '\n' ' ' <"$WORK/psync.err")"; fi
  return $rc
}

# wait_state STATE_REGEX SECONDS: polls persist.status until state matches; 0 if it did.
wait_state() {
  local re=$1 n=$(($2 * 10)) i
  for i in $(seq 1 "$n"); do
    [[ $(pstat state) =~ $re ]] && return 0
    sleep 0.1
  done
  return 1
}

# Hub access for checks: git through a credential helper reading the 0600 token file, curl with
# the token from the file, @huggingface/hub through tests/persist/hfjs_tool.mjs.
export GIT_CONFIG_COUNT=3 GIT_CONFIG_KEY_0=credential.helper \
  GIT_CONFIG_VALUE_0="!f() { echo username=hf_user; echo \"password=\$(cat '$WORK/token')\"; }; f" \
  GIT_CONFIG_KEY_1=user.email GIT_CONFIG_VALUE_1=t@example.com GIT_CONFIG_KEY_2=user.name GIT_CONFIG_VALUE_2=t
export GIT_TERMINAL_PROMPT=0
api() { curl -sS -H "Authorization: Bearer $(cat "$WORK/token")" "$HUB$1"; }
# ds_clone DIR: git clone + git lfs pull of the Dataset into DIR; 0 on success.
ds_clone() {
  rm -rf "$1"
  git clone -q "$HUB/datasets/$DS" "$1" >>"$LOGS/git.log" 2>&1 &&
    (cd "$1" && git lfs pull >>"$LOGS/git.log" 2>&1)
}
# ds_commits: the number of commits on main (commits API, X-Total-Count).
ds_commits() {
  curl -sS -D - -o /dev/null -H "Authorization: Bearer $(cat "$WORK/token")" \
    "$HUB/api/datasets/$DS/commits/main?limit=1" | tr -d '\r' | sed -n 's/^[Xx]-[Tt]otal-[Cc]ount: //p'
}
# hfjs CMD ARGS...: @huggingface/hub against the emulator (see hfjs_tool.mjs); stdout is the result.
hfjs() {
  HF_TOKEN_FILE="$WORK/token" HUB="$HUB" node "$PDIR/hfjs_tool.mjs" "$DS" "$@" 2>>"$LOGS/node.log"
}
require_node() {
  command -v node >/dev/null && [ -d "$SPACEFS_SOURCE_DIR/tests/js/node_modules/@huggingface/hub" ] ||
    skip "node or tests/js/node_modules missing (run npm ci in tests/js)"
}

# manifest_verify ROOT MANIFEST...: every entry (path sha256) of the manifests, as the last line
# for that path says, read through ROOT; prints "ok=N bad=N missing=N" and the first problems.
manifest_verify() {
  python3 "$PDIR/crash_writer.py" verify "$@"
}

# hub_restart: stops hubd and starts it again on the same port and state (outputs kept).
hub_restart_same() {
  local port=${HUB##*:}
  hub_stop
  hub_save_logs
  hub_start --port "$port"
}
# hub_save_logs: keeps hubd's output of the previous run for the leak check.
hub_save_logs() {
  local f n=$(ls "$LOGS" | grep -c '^hubd\.' || true)
  for f in hubd.out hubd.err; do
    [ -f "$WORK/$f" ] && cp "$WORK/$f" "$LOGS/$f.$n"
  done
  return 0
}

# scenario_finish: the leak check over every helper log, then finish_fs (unmount, sanitizer
# reports, token/secret in any output, tally).
scenario_finish() {
  section ""
  local f leaked=""
  for f in "$LOGS"/* "$WORK"/*.err "$WORK"/*.out; do
    [ -f "$f" ] || continue
    grep -qF "$TOKEN" "$f" && leaked="$leaked $(basename "$f")"
  done
  if [ -z "$leaked" ]; then pass "no token in helper logs"; else fail "token in" "$leaked"; fi
  echo "# total: $((($(ms) - T0) / 1000)) s"
  finish_fs
}
