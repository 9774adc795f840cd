#!/usr/bin/env bash
# Backups that round-trip (issue 11, item 6, and the times of item 5): a directory with scripts
# (0755), a private file (0600), symlinks (relative, absolute, dangling), empty directories and
# sub-second file and directory times is copied into persist/ with cp -a, rsync -a and tar,
# committed, then restored with the same tool from a mount with an empty cache (another
# machine): `find -printf '%p %m %y %l %T@'` and the checksums must be identical. Also chmod,
# ctime and atime, hard links (refused) and what another client of the Dataset sees.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
DS=alice/chat-persist
SRC="$WORK/src"

# the tree to back up
mkdir -p "$SRC/bin" "$SRC/etc/empty" "$SRC/data/deep/er" "$SRC/private"
printf '#!/bin/sh\necho hello\n' >"$SRC/bin/run.sh"
printf '#!/usr/bin/env python3\nprint(1)\n' >"$SRC/bin/tool.py"
chmod 0755 "$SRC/bin/run.sh" "$SRC/bin/tool.py"
echo "key=value" >"$SRC/etc/app.conf"
echo "secret-ish" >"$SRC/private/notes"
chmod 0600 "$SRC/private/notes"
chmod 0700 "$SRC/private"
head -c 100000 /dev/urandom >"$SRC/data/blob.bin"
: >"$SRC/data/empty-file"
ln -s ../etc/app.conf "$SRC/bin/conf"          # relative
ln -s /etc/hostname "$SRC/etc/hostname-link"  # absolute
ln -s does/not/exist "$SRC/data/dangling"     # dangling
i=0
while IFS= read -r f; do # files and links: distinct times with nanoseconds
  i=$((i + 1))
  touch -h -d "2021-03-04 05:06:$((10 + i)).$((123456789 + i * 1111))" "$f"
done < <(find "$SRC" -mindepth 1 ! -type d | sort)
while IFS= read -r d; do # directories last, deepest first (as a restore does)
  i=$((i + 1))
  touch -d "2020-01-02 03:04:$((10 + i)).$((987654321 - i * 7))" "$d"
done < <(find "$SRC" -type d | sort -r)

# listing NAME DIR: every entry with mode, type, link target and mtime (ns), then checksums
listing() {
  (cd "$2" && find . -printf '%p %m %y %l %T@\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$WORK/list.$1"
}
# same NAME: the listing of NAME equals the source's (prints the difference otherwise)
same() {
  if cmp -s "$WORK/list.src" "$WORK/list.$1"; then
    pass "$1: the tree is identical"
  else
    fail "$1: the tree differs" "$(diff "$WORK/list.src" "$WORK/list.$1" | head -20)"
  fi
}
listing src "$SRC"

mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
S="$MNT/alice/chat"
P="$S/persist"
check "cp -a into persist/" cp -a "$SRC" "$P/cpa"
check "rsync -a into persist/" rsync -a "$SRC/" "$P/rsync/"
mkdir "$P/tar"
check "tar (pax, nanosecond times) into persist/" \
  bash -c "tar -C '$SRC' --format=posix -cf - . | tar -C '$P/tar' -xf -"
for t in cpa rsync tar; do
  listing "mnt-$t" "$P/$t"
  same "mnt-$t"
done
check_eq "committed" OK "$(sync_space "$S")"

# what any other client sees: plain files at their paths, links as files holding the target,
# and one manifest
check_eq "a script is a plain file on the Hub" "$(cat "$SRC/bin/run.sh")" \
  "$(api "/datasets/$DS/resolve/main/cpa/bin/run.sh")"
check_eq "a symlink is a file holding its target" "../etc/app.conf" \
  "$(api "/datasets/$DS/resolve/main/cpa/bin/conf")"
manifest=$(api "/datasets/$DS/resolve/main/.spacefs/meta")
echo "# manifest: $(wc -l <<<"$manifest") lines, $(wc -c <<<"$manifest") bytes"
check_eq "the manifest starts with its version" "spacefs-meta 1" "$(head -1 <<<"$manifest")"
check_match "the manifest records the script's mode and ns time" \
  '^f 0755 1614834[0-9]{3}\.[0-9]{9} 21 cpa/bin/run.sh$' "$(grep ' cpa/bin/run.sh$' <<<"$manifest")"
check_match "and the empty directory" '^d 0755 .* - cpa/etc/empty$' "$(grep ' cpa/etc/empty$' <<<"$manifest")"
check_eq ".spacefs is not listed in persist/" "" "$(ls -A "$P" | grep -x .spacefs)"
check_eq "nor in snapshots/" "" "$(ls -A "$S/snapshots/$(ls "$S/snapshots" | tail -1)" | grep -x .spacefs)"
check_eq "a snapshot has the backup" cpa "$(ls "$S/snapshots/$(ls "$S/snapshots" | tail -1)" | grep -x cpa)"
# a restore from snapshots/ keeps what the manifest recorded: modes, symlinks, times, empty dirs
snap="$S/snapshots/$(ls "$S/snapshots" | tail -1)"
check "cp -a out of the newest snapshot" cp -a "$snap/cpa" "$WORK/from-snapshot"
listing snap-cpa "$WORK/from-snapshot"
same snap-cpa
check_eq "a snapshot's symlink reads as its target" ../etc/app.conf "$(readlink "$snap/cpa/bin/conf")"
check_eq "a snapshot stays read-only (its 0755 script too)" EROFS "$(errno_of write "$snap/cpa/bin/run.sh" x)"
check_eq "and cannot be made" EPERM "$(errno_of mkdir "$P/.spacefs")"

# chmod, ctime, atime, hard links
echo x >"$P/f"
sleep 1.1
c0=$(stat -c %Z "$P/f")
chmod 0640 "$P/f"
check_eq "chmod is kept" 640 "$(stat -c %a "$P/f")"
check "chmod moves ctime" test "$(stat -c %Z "$P/f")" -gt "$c0"
check "ctime is not 1970" test "$(stat -c %Z "$P/f")" -gt 1600000000
touch -a -d "2001-01-01" "$P/f"
check_eq "atime is settable" 978307200 "$(stat -c %X "$P/f")"
cat "$P/f" >/dev/null
check "a read moves an old atime (relatime)" test "$(stat -c %X "$P/f")" -gt 1600000000
check_eq "hard links are refused" EPERM "$(python3 -c '
import errno, os, sys
try:
    os.link(sys.argv[1], sys.argv[2]); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$P/f" "$P/f2")"
check_eq "special files and extended attributes are refused" "ENOSYS ENOTSUP" "$(python3 -c '
import errno, os, sys
out = []
for f in (lambda: os.mkfifo(sys.argv[1] + "/fifo"), lambda: os.setxattr(sys.argv[1] + "/f", "user.k", b"v")):
    try:
        f(); out.append("OK")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
print(*out)' "$P")"
mkdir -p "$WORK/hl" && echo same >"$WORK/hl/a" && ln "$WORK/hl/a" "$WORK/hl/b"
tar -C "$WORK/hl" -cf "$WORK/hl.tar" a b
tar -C "$P" -xf "$WORK/hl.tar" 2>"$WORK/hl.err"
check_eq "tar of a hard link: fails on the second name" "2 a" "$? $(cd "$P" && ls a b 2>/dev/null | xargs)"
check_match "saying why" "Operation not permitted" "$(cat "$WORK/hl.err")"
rm -f "$P/a"
check_eq "readlink" "../etc/app.conf" "$(readlink "$P/cpa/bin/conf")"
check_eq "cat through a symlink" "key=value" "$(cat "$P/cpa/bin/conf")"
check_eq "committed again" OK "$(sync_space "$S")"
unmount_fs

# another machine: an empty cache; restore with each tool
rm -rf "$CACHE"
mount_fs "$TOKEN" "cache_dir=$WORK/cache2,$POPTS"
out="$WORK/restored"
mkdir -p "$out"
check "cp -a out of persist/ (empty cache)" cp -a "$P/cpa" "$out/cpa"
check "rsync -a out of persist/ (empty cache)" rsync -a "$P/rsync/" "$out/rsync/"
mkdir "$out/tar"
check "tar out of persist/ (empty cache)" \
  bash -c "tar -C '$P/tar' --format=posix -cf - . | tar -C '$out/tar' -xf -"
for t in cpa rsync tar; do
  listing "out-$t" "$out/$t"
  same "out-$t"
done
check_eq "chmod survives the empty cache" 640 "$(stat -c %a "$P/f")"
finish_fs
