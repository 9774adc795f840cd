#!/usr/bin/env bash
# Streaming reads through the mount (issue 12): from an empty cache, `head -c 1` of a large LFS
# file fetches a small range, random 4 KiB reads fetch what they touch (<= 64x), `cat` returns
# the right bytes and leaves the verified object in the cache, a later read of it asks the Hub
# for nothing, and an object whose stored bytes were tampered with fails with EIO once seen
# whole (one log line, nothing cached).
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
STORAGE='GET /lfs-storage/objects/{oid}'
storage_bytes() { hub_stats | jq -r --arg r "$STORAGE" '.routes[$r].bytes_out // 0'; }
SIZE=$((24 * 1024 * 1024))
head -c $SIZE /dev/urandom >"$WORK/big.bin"
OID=$(sha "$WORK/big.bin")

mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
P="$MNT/alice/chat/persist"
cp "$WORK/big.bin" "$P/big.bin"
check_eq "uploaded" OK "$(sync_space "$MNT/alice/chat")"
unmount_fs

# an empty cache (another machine)
mount_fs "$TOKEN" "cache_dir=$WORK/cache2,$POPTS"
ls "$P" >/dev/null
hub_stats_reset
check_eq "head -c 1 from an empty cache" "$(head -c 1 "$WORK/big.bin" | od -An -tx1)" "$(head -c 1 "$P/big.bin" | od -An -tx1)"
got=$(storage_bytes)
check "head -c 1 fetched at most 512 KiB ($got bytes)" test "$got" -le 524288

hub_stats_reset
out=$(python3 - "$P/big.bin" "$WORK/big.bin" <<'PY'
import os, random, sys
r = random.Random(5)
a, b = os.open(sys.argv[1], os.O_RDONLY), os.open(sys.argv[2], os.O_RDONLY)
size = os.fstat(b).st_size
bad = 0
for _ in range(32):
    off = r.randrange(size // 4096) * 4096
    bad += os.pread(a, 4096, off) != os.pread(b, 4096, off)
print("bad", bad)
PY
)
check_eq "32 random 4 KiB reads return the right bytes" "bad 0" "$out"
got=$(storage_bytes)
check "they fetched at most 64x what they read ($got bytes for 131072)" test "$got" -le $((64 * 131072))

hub_stats_reset
check_eq "cat returns the whole file" "$OID" "$(sha "$P/big.bin")"
got=$(storage_bytes)
check "cat fetched each byte about once ($got bytes for $SIZE)" test "$got" -le $((SIZE + SIZE / 8))
obj=$(find "$WORK/cache2" -path "*/objects/l$OID")
check_eq "the verified object is in the cache" "$SIZE" "$(stat -c %s "$obj" 2>/dev/null)"
check_eq "no part file left" "" "$(find "$WORK/cache2" -name '.part.*')"
hub_stats_reset
check_eq "read again" "$OID" "$(sha "$P/big.bin")"
check_eq "from the cache: nothing fetched" 0 "$(storage_bytes)"
unmount_fs

# a storage that serves other bytes than the object id says (one byte changed in the emulator's
# store): from an empty cache the bytes stream, and once all of them were seen the read fails
# with EIO, one line is logged, nothing is cached
store=$(find "$WORK/state" -path "*/lfs/*" -name "$OID" | head -1)
check "the emulator's copy of the object found" test -n "$store"
printf 'Z' | dd of="$store" bs=1 seek=$((SIZE / 2)) conv=notrunc 2>/dev/null
mount_fs "$TOKEN" "cache_dir=$WORK/cache3,$POPTS"
ls "$P" >/dev/null
lines_before=$(grep -c "sha256 is" "$WORK/spacefs.err")
check_eq "cat of the tampered object fails with EIO" EIO "$(python3 - "$P/big.bin" <<'PY'
import errno, sys
try:
    with open(sys.argv[1], "rb") as f:
        while f.read(1 << 20):
            pass
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
)"
check_eq "one log line" 1 "$(($(grep -c "sha256 is" "$WORK/spacefs.err") - lines_before))"
check_eq "nothing cached, no part file" "" "$(find "$WORK/cache3" -type f -path "*/chat-persist/objects/*" -size +1k)"
finish_fs
