#!/usr/bin/env bash
# The main job, run by `./dev demo`: start the bundled local Hub (tests/hub/hubd) with the demo
# fixture, mount it with spacefs, and show what a user sees. Interactive: stays mounted until
# Enter or Ctrl-C. Non-interactive (no terminal): shows the tour and cleans up.
set -euo pipefail
BUILD_DIR=${1:?usage: demo.sh BUILD_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MNT=${SPACEFS_DEMO_DIR:-$ROOT/demo-mnt}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/spacefs-demo.XXXXXX")
SPACEFS=$BUILD_DIR/fs/spacefs
HUB_PID=""
FS_PID=""

cleanup() {
  set +e
  if [ -n "$FS_PID" ]; then
    fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT" 2>/dev/null
    wait "$FS_PID" 2>/dev/null
  fi
  [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Commands run in $WORK, where <mount name> links to the mount and app.db is made.
show() { printf '\n\033[1m$ %s\033[0m\n' "$*"; (cd "$WORK" && eval "$*") || true; }

"$ROOT/tests/hub/hubd" --state "$WORK/hub" --fixture "$ROOT/tests/hub/fixtures/demo.json" \
  --port-file "$WORK/port" >"$WORK/hubd.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
[ -s "$WORK/port" ] || { cat "$WORK/hubd.log"; echo "demo: the local Hub did not start" >&2; exit 1; }
export HF_ENDPOINT="http://127.0.0.1:$(cat "$WORK/port")"
echo "Local Hub: $HF_ENDPOINT (user alice, org acme; demo fixture tests/hub/fixtures/demo.json)"

if [ ! -x "$SPACEFS" ]; then
  echo "demo: $SPACEFS was not built" >&2
  exit 1
fi
"$SPACEFS" --version

# The demo token goes to spacefs through a token file, never the command line.
umask 077
printf 'hf_alice_write\n' >"$WORK/token"
mkdir -p "$MNT"
"$SPACEFS" "$MNT" -f -o "token_file=$WORK/token,endpoint=$HF_ENDPOINT,cache_dir=$WORK/cache" \
  2>"$WORK/spacefs.log" &
FS_PID=$!
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.05; done
mountpoint -q "$MNT" || { cat "$WORK/spacefs.log"; echo "demo: mount failed" >&2; exit 1; }
ln -s "$MNT" "$WORK/$(basename "$MNT")"

cd "$MNT"
show "ls $(basename "$MNT")"
show "ls -l $(basename "$MNT")/alice"
show "cat $(basename "$MNT")/alice/*/status"
show "ls -l $(basename "$MNT")/alice/chat"
show "cat $(basename "$MNT")/alice/chat/url $(basename "$MNT")/alice/chat/hardware"
show "ls $(basename "$MNT")/alice/chat/secrets $(basename "$MNT")/alice/chat/variables"
show "cat $(basename "$MNT")/alice/chat/variables/MODEL"
show "jq -c '{stage, hardware, gcTimeout}' $(basename "$MNT")/alice/chat/runtime.json"
show "echo restart > $(basename "$MNT")/alice/chat/control && cat $(basename "$MNT")/alice/chat/status"
show "until grep -qx RUNNING $(basename "$MNT")/alice/chat/status; do sleep 1; done; cat $(basename "$MNT")/alice/chat/status"
show "cat $(basename "$MNT")/alice/chat/control"
show "tail -n 4 $(basename "$MNT")/alice/chat/logs/build"
show "echo reboot > $(basename "$MNT")/alice/chat/control   # not a command: EINVAL, nothing sent"
show "ls $(basename "$MNT")/gradio   # any namespace, read-only"
show "cat $(basename "$MNT")/.spacefs/whoami $(basename "$MNT")/.spacefs/health"

# persist/: a small SQLite database copied in, committed to the Dataset alice/chat-persist,
# its history in snapshots/, and an earlier version restored with cp.
P=$(basename "$MNT")/alice/chat
notes() { python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
if len(sys.argv) > 2:
    db.execute("create table if not exists notes (t text)")
    db.execute("insert into notes values (?)", (sys.argv[2],))
    db.commit()
print(", ".join(r[0] for r in db.execute("select t from notes")))' "$@"; }
echo
echo "persist/: a small SQLite database (app.db, notes() prints its rows) into a private Dataset"
show "notes app.db 'first note'"
show "cp app.db $P/persist/ && head -3 $P/persist.status"
show "echo sync > $P/control && head -3 $P/persist.status"
show "notes app.db 'second note' && cp app.db $P/persist/ && echo sync > $P/control"
show "ls $P/snapshots/   # one directory per commit, newest last"
OLD=$(ls "$MNT/alice/chat/snapshots/" | tail -n 2 | head -n 1)
show "cp $P/snapshots/$OLD/app.db $P/persist/app.db   # restore the earlier version"
show "notes $P/persist/app.db"
cd "$ROOT"

if [ -t 0 ]; then
  echo
  echo "Mounted at $MNT against the local Hub $HF_ENDPOINT."
  echo "Try it from another shell; press Enter here to unmount and stop."
  read -r _ || true
fi
