#!/usr/bin/env bash
# Time to first byte from a fresh mount (issue 12): with an empty cache, `head -c 1` of an LFS
# file in persist/ answers from the Hub's API (the manifest, one paths-info, the data's first
# range) while the clone of the Dataset's git mirror is held back by 3 s of latency on the git
# endpoints; its stat is the one the whole view gives after the clone; `ls` waits for the clone;
# with paths-info failing, `head` waits for the clone instead (one log line) and reads the right
# byte.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$WORK/big.bin"
touch -d '2021-02-03 04:05:06.123456789' "$WORK/big.bin"
chmod 600 "$WORK/big.bin"

mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
P="$MNT/alice/chat/persist"
cp -p "$WORK/big.bin" "$P/big.bin"
echo hello >"$P/small.txt"
check_eq "uploaded" OK "$(sync_space "$MNT/alice/chat")"
want_stat=$(stat -c '%s %a %Y' "$P/big.bin")
want_ls=$(ls "$P" | xargs)
unmount_fs

git_slow() { # every request to a .git endpoint answers 3 s late
  hub_fault '{"method": "*", "path": "\\.git/|/info/refs|git-upload-pack", "action": "latency", "latency_ms": 3000, "count": -1}'
}
first_byte() { # head -c 1 of big.bin through the mount: the byte in $got, the time in $ms
  local t0 t1
  t0=$(date +%s%N)
  got=$(head -c 1 "$P/big.bin" | od -An -tx1)
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
}
pack_count() { hub_stats | jq -r '[.routes | to_entries[] | select(.key|test("upload-pack")) | .value.count] | add // 0'; }

# an empty cache: head -c 1 before the clone could have finished
git_slow
mount_fs "$TOKEN" "cache_dir=$WORK/cache2,$POPTS"
hub_stats_reset
first_byte
check_eq "head -c 1 from a fresh mount reads the right byte" "$(head -c 1 "$WORK/big.bin" | od -An -tx1)" "$got"
check "it took under 2 s, the clone being held 3 s ($ms ms)" test "$ms" -lt 2000
check_eq "the clone had not finished: no upload-pack answered yet" 0 "$(pack_count)"
check_eq "one paths-info" 1 "$(hub_count 'POST /api/datasets/{ns}/{name}/paths-info/{rev}')"
check_eq "stat before the clone: size, mode, mtime" "$want_stat" "$(stat -c '%s %a %Y' "$P/big.bin")"
check_eq "ls waits for the clone and lists everything" "$want_ls" "$(ls "$P" | xargs)"
check "the clone has finished" test "$(pack_count)" -ge 1
check_eq "stat after the clone: the same" "$want_stat" "$(stat -c '%s %a %Y' "$P/big.bin")"
check_eq "the whole file" "$(sha "$WORK/big.bin")" "$(sha "$P/big.bin")"
unmount_fs
hub_faults_clear

# the data's first range goes straight to storage: the signed URL came with the lookup (a HEAD
# of resolve beside paths-info), so a GET of resolve held 3 s does not delay head -c 1
git_slow
hub_fault '{"method": "GET", "path": "/resolve/.*big\\.bin", "action": "latency", "latency_ms": 3000, "count": -1}'
mount_fs "$TOKEN" "cache_dir=$WORK/cache4,$POPTS"
first_byte
check_eq "a signed URL from the lookup: the right byte" "$(head -c 1 "$WORK/big.bin" | od -An -tx1)" "$got"
check "without a GET of resolve ($ms ms, a resolve GET held 3 s)" test "$ms" -lt 2000
unmount_fs
hub_faults_clear

# paths-info fails: head waits for the clone and reads the right byte, one log line
hub_fault '{"method": "POST", "path": "/paths-info/", "status": 500, "count": -1}'
git_slow
mount_fs "$TOKEN" "cache_dir=$WORK/cache3,$POPTS"
lines0=$(grep -c "waiting for the first fetch" "$WORK/spacefs.err")
first_byte
check_eq "paths-info failing: head -c 1 still reads the right byte" "$(head -c 1 "$WORK/big.bin" | od -An -tx1)" "$got"
check "after the clone ($ms ms, the clone held 3 s)" test "$ms" -ge 2500
check_eq "one log line" 1 "$(($(grep -c "waiting for the first fetch" "$WORK/spacefs.err") - lines0))"
hub_faults_clear
finish_fs
