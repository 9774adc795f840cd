#!/usr/bin/env bash
# persist/ calls made through an open handle (issue 11, items 1-3): ftruncate, fstat, fchmod and
# futimens on a file unlinked while open (libfuse passes no path for it: the daemon crashed on
# ftruncate, the others failed with ESTALE), Python's TemporaryFile + truncate, and rename flags
# (RENAME_EXCHANGE did a plain rename and lost the target; now refused with EINVAL).
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
S="$MNT/alice/chat"
P="$S/persist"
before=$(ls "$P" | xargs)

# the repro of the issue, verbatim
out=$(cd "$P" && python3 -c "import os; fd=os.open('t', os.O_CREAT|os.O_RDWR); os.unlink('t'); os.ftruncate(fd, 0)" 2>&1)
check_eq "ftruncate on an unlinked open file succeeds" "" "$out"
check "the mount is still alive after it" stat "$P"

out=$(python3 - "$P" 2>&1 <<'PY'
import os, sys, tempfile
d = sys.argv[1]
# the pattern of tempfile users and databases: an unlinked temporary file, truncated through
# its handle, read and written again
with tempfile.TemporaryFile(dir=d) as f:
    f.write(b"x" * 10000)
    f.truncate(100)
    f.seek(0)
    assert f.read() == b"x" * 100, "content after truncate"
    f.truncate(5000)
    f.seek(0)
    data = f.read()
    assert data == b"x" * 100 + b"\0" * 4900, "grown through the handle: %d bytes" % len(data)
# fstat/fchmod/futimens/ftruncate through a handle on a file that still has its name
p = os.path.join(d, "named")
with open(p, "wb") as f:
    f.write(b"abc")
    f.flush()
    os.fchmod(f.fileno(), 0o600)
    os.utime(f.fileno(), (1200000000, 1200000000))
    assert os.fstat(f.fileno()).st_size == 3
    os.ftruncate(f.fileno(), 1)
    assert os.fstat(f.fileno()).st_size == 1
assert os.stat(p).st_size == 1, "ftruncate kept on the named file"
print("ok")
PY
)
check_eq "TemporaryFile + truncate; fstat/fchmod/futimens/ftruncate through handles" ok "$out"
# fstat, fchmod and futimens on a file unlinked while open (issue 11 item 2): the kernel sends
# them without a file handle; with hard_remove off libfuse keeps a hidden name for the file
# (.fuse_hidden*) that persist/ serves from the open file (it failed with ESTALE before).
out=$(cd "$P" && python3 -c "
import os
fd = os.open('gone', os.O_CREAT | os.O_RDWR)
os.write(fd, b'12345')
ino = os.fstat(fd).st_ino
os.unlink('gone')
st = os.fstat(fd)
os.fchmod(fd, 0o600)
os.utime(fd, (1300000000, 1300000000))
mt = int(os.fstat(fd).st_mtime)
os.write(fd, b'678')
st2 = os.fstat(fd)
print(st.st_size, st.st_nlink, st.st_ino == ino, mt, st2.st_size,
      sorted(n for n in os.listdir('.') if n.startswith('.fuse_hidden') or n == 'gone'))
os.close(fd)" 2>&1)
check_eq "fstat/fchmod/futimens on an unlinked open file: size, nlink 0, same inode, not listed" \
  "5 0 True 1300000000 8 []" "$out"
check_eq "no temporary file left in persist/" "$(printf '%s\n' $before named | sort | xargs)" "$(ls "$P" | xargs)"

# renameat2 flags: NOREPLACE honoured, EXCHANGE and WHITEOUT refused with nothing changed
echo a >"$P/ra" && echo b >"$P/rb"
out=$(python3 - "$P" 2>&1 <<'PY'
import ctypes, errno, os, sys
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
def renameat2(a, b, flags):
    r = libc.renameat2(AT_FDCWD, os.path.join(d, a).encode(), AT_FDCWD, os.path.join(d, b).encode(), flags)
    return 0 if r == 0 else errno.errorcode[ctypes.get_errno()]
print(renameat2("ra", "rb", 1), renameat2("ra", "rb", 2), renameat2("ra", "rb", 4))
PY
)
check_eq "renameat2: NOREPLACE EEXIST, EXCHANGE EINVAL, WHITEOUT EINVAL" "EEXIST EINVAL EINVAL" "$out"
check_eq "both files keep their content" "a b" "$(cat "$P/ra" "$P/rb" | xargs)"

# names the Hub refuses (issue 11 item 7): refused at create, and they block nothing else
check_eq "a name with a backslash is refused" EINVAL "$(errno_of create "$P/back\\slash" x)"
check_eq "a name with a newline is refused" EINVAL "$(errno_of create "$P/new
line" x)"
check_eq "mv to a name with CR is refused" EINVAL "$(cd "$P" && python3 -c "
import os, errno
try:
    os.rename('ra', 'r\ra'); print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])")"
echo good >"$P/good.txt"
check_eq "echo sync > control succeeds" OK "$(sync_space "$S")"
check_eq "the good file reached the Hub" good "$(api /datasets/alice/chat-persist/resolve/main/good.txt)"
finish_fs
