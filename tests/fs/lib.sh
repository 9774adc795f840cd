# Helpers for the fs integration tests: start the emulator (tests/lib/hub.sh), mount the real
# spacefs binary in the foreground in the background, wait for the mount, always unmount, and
# fail on sanitizer reports or a leaked token/secret in any output. Source after setting nothing.
. "$SPACEFS_SOURCE_DIR/tests/lib/hub.sh"
SPACEFS="$SPACEFS_BUILD_DIR/fs/spacefs"
TOKEN=hf_alice_write                  # the sentinel token: must never appear in any output
SECRET_VALUE="sentinel-secret-$$-x9Q" # the sentinel secret value: likewise
MNT="$WORK/mnt"
FS_PID=""
ALL_OUT="$WORK/test.out"

# Everything the test prints is also kept, to be searched for leaks at the end.
exec > >(tee -a "$ALL_OUT") 2>&1

skip() {
  echo "SKIP: $1"
  echo "0 passed, 0 failed"
  exit 77
}

require_fuse() {
  [ -e /dev/fuse ] || skip "/dev/fuse is missing (no FUSE in this environment)"
  command -v fusermount3 >/dev/null || skip "fusermount3 is not installed"
  [ -x "$SPACEFS" ] || skip "spacefs was not built (no hubclient?)"
}

# errno_of OP PATH [DATA]: runs one syscall sequence and prints OK or the errno name, so
# tests assert the exact errno the shell saw. OP: write (open O_WRONLY|O_TRUNC + write),
# create (… |O_CREAT), read, mkdir, rmdir, unlink, stat, list (listdir).
errno_of() {
  python3 - "$@" <<'PY'
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else b""
try:
    if op in ("write", "create"):
        fl = os.O_WRONLY | os.O_TRUNC | (os.O_CREAT if op == "create" else 0)
        fd = os.open(path, fl, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    elif op == "read":
        fd = os.open(path, os.O_RDONLY)
        os.read(fd, 4096)
        os.close(fd)
    elif op == "mkdir":
        os.mkdir(path)
    elif op == "rmdir":
        os.rmdir(path)
    elif op == "unlink":
        os.unlink(path)
    elif op == "stat":
        os.stat(path)
    elif op == "statfs":
        os.statvfs(path)
    elif op == "list":
        os.listdir(path)
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PY
}

# mount_fs [token] [extra -o options]: mounts on $MNT with a token file, waits for it.
mount_fs() {
  local token=${1:-$TOKEN} extra=${2:-}
  mkdir -p "$MNT" 2>/dev/null # fails on a dead mount left by a kill -9: spacefs detaches it
  printf '%s' "$token" >"$WORK/token"
  chmod 600 "$WORK/token"
  "$SPACEFS" "$MNT" -f -o "endpoint=$HUB,token_file=$WORK/token,timeout=5,ttl=${FS_TTL:-2}${extra:+,$extra}" \
    2>>"$WORK/spacefs.err" &
  FS_PID=$!
  at_exit unmount_fs
  local i
  for i in $(seq 1 100); do
    # listed, and answering (statfs reaches the daemon; a dead mount answers ENOTCONN)
    grep -q " $MNT fuse.spacefs " /proc/mounts && stat -f "$MNT" >/dev/null 2>&1 && return 0
    kill -0 "$FS_PID" 2>/dev/null || { cat "$WORK/spacefs.err"; echo "spacefs died"; exit 1; }
    sleep 0.1
  done
  echo "mount did not appear"
  exit 1
}

# unmount_fs: unmounts and waits for spacefs to exit (sanitizers report at exit).
unmount_fs() {
  [ -n "$FS_PID" ] || return 0
  grep -q " $MNT fuse.spacefs " /proc/mounts && fusermount3 -u "$MNT"
  local i
  for i in $(seq 1 100); do
    kill -0 "$FS_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$FS_PID" 2>/dev/null; then
    echo "spacefs did not exit after unmount"
    kill -9 "$FS_PID"
    fusermount3 -uz "$MNT" 2>/dev/null
  fi
  wait "$FS_PID" 2>/dev/null
  FS_PID=""
}

# ms: monotonic milliseconds
ms() { date +%s%3N; }

# finish_fs: unmount, then fail on sanitizer reports and leaks, then print the tally.
finish_fs() {
  unmount_fs
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/spacefs.err"; then
    fail "no sanitizer report" "$(grep -m3 -E 'Sanitizer|runtime error' "$WORK/spacefs.err")"
  else
    pass "no sanitizer report"
  fi
  sleep 0.2
  local f leaked=""
  for f in "$ALL_OUT" "$WORK/spacefs.err" "$WORK/hubd.out" "$WORK/hubd.err"; do
    [ -f "$f" ] || continue
    grep -qF "$TOKEN" "$f" && leaked="$leaked token:$(basename "$f")"
    grep -qF "$SECRET_VALUE" "$f" && leaked="$leaked secret:$(basename "$f")"
  done
  if [ -z "$leaked" ]; then pass "no token or secret value in any output"; else fail "leak" "$leaked"; fi
  finish
}
