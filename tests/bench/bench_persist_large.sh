#!/bin/bash
# Benchmark (label bench): a 2 GiB file copied into persist/ with cp and back out, MB/s each way,
# plus `echo sync > control` (hash + LFS upload to the emulator) and a cp out of a mount from an
# empty cache (lazy LFS download + sha256 check), with the daemon's peak RSS (VmHWM) checked to
# stay under 100 MiB. BENCH_MIB changes the size. Under a sanitizer build the RSS is printed but
# not checked (ASan's shadow memory and quarantine are not the product's memory).
. "$SPACEFS_SOURCE_DIR/tests/persist/scenario_lib.sh"
require_fuse
MIB=${BENCH_MIB:-2048}
RSS_LIMIT_KB=$((100 * 1024))
SANITIZED=$(sed -n 's/^SPACEFS_SANITIZE:BOOL=//p' "$SPACEFS_BUILD_DIR/CMakeCache.txt" 2>/dev/null)
hub_start
BIG="$WORK/big.bin"
head -c "$((MIB << 20))" /dev/urandom >"$BIG"
SUM=$(sha256sum <"$BIG" | cut -c1-64)
PEAK=0
mbs() { awk -v b="$((MIB << 20))" -v t="$1" 'BEGIN { printf "%.0f", b / 1048576 / (t / 1000) }'; }
hwm() {
  local kb
  kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$FS_PID/status")
  [ "${kb:-0}" -gt "$PEAK" ] && PEAK=$kb
  echo "${kb:-0}"
}

mount_persist "$WORK/cache" "persist_quiet=600,persist_interval=1"
section "cp in"
t=$(ms)
cp "$BIG" "$P/big.bin"
rc=$?
dt=$(($(ms) - t))
check_eq "cp into persist/" 0 "$rc"
echo "# cp in: $MIB MiB in $dt ms = $(mbs "$dt") MB/s (peak RSS $(hwm) kB)"

section "sync (hash + LFS upload)"
t=$(ms)
check_eq "echo sync > control" OK "$(psync 1200)"
dt=$(($(ms) - t))
echo "# sync: $MIB MiB in $dt ms = $(mbs "$dt") MB/s (peak RSS $(hwm) kB)"

section "cp out (local cache)"
t=$(ms)
cp "$P/big.bin" "$WORK/out.bin"
dt=$(($(ms) - t))
echo "# cp out: $MIB MiB in $dt ms = $(mbs "$dt") MB/s (peak RSS $(hwm) kB)"
check_eq "cp out content" "$SUM" "$(sha256sum <"$WORK/out.bin" | cut -c1-64)"
rm -f "$WORK/out.bin"
hwm >/dev/null
unmount_fs

section "cp out from an empty cache (LFS download)"
mount_persist "$WORK/cache-empty"
t=$(ms)
cp "$P/big.bin" "$WORK/out.bin"
dt=$(($(ms) - t))
echo "# cp out, empty cache: $MIB MiB in $dt ms = $(mbs "$dt") MB/s (peak RSS $(hwm) kB)"
check_eq "content from the Hub" "$SUM" "$(sha256sum <"$WORK/out.bin" | cut -c1-64)"
rm -f "$WORK/out.bin" "$BIG"
hwm >/dev/null
unmount_fs

echo "# peak RSS of the daemon: $PEAK kB"
if [ "$SANITIZED" = ON ]; then
  echo "# sanitizer build: the RSS limit is not checked"
else
  check "peak RSS under 100 MiB ($((PEAK / 1024)) MiB)" test "$PEAK" -lt "$RSS_LIMIT_KB"
fi
scenario_finish
