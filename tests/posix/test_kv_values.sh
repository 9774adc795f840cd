#!/usr/bin/env bash
# Issue 11 item 8: a secret or variable written in several write(2) calls reaches the Hub once,
# whole, when the descriptor is closed (never a prefix: before, each write was sent, so the Hub
# held every prefix in turn); a value past 64 KiB is EFBIG at the write and nothing is sent; the
# Hub's error at the send is close(2)'s: /bin/echo, /usr/bin/printf and Python report it. Bash's
# builtins (echo, printf) cannot: bash drops close errors of a builtin's redirection (it restores
# stdout with dup2), so only the log says it there.
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
hub_start
mount_fs
A="$MNT/alice/chat"
SJ="$HUB_STATE/repos/spaces/alice/chat.json"
SET_S='POST /api/spaces/{ns}/{name}/secrets'
SET_V='POST /api/spaces/{ns}/{name}/variables'
ls "$A/secrets" "$A/variables" >/dev/null

# three writes, one request, the whole value
hub_stats_reset
out=$(python3 - "$A/secrets/THREE" "$SECRET_VALUE" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
v = sys.argv[2].encode()
for part in (v[:5], v[5:10], v[10:] + b"\n"):
    os.write(fd, part)
os.close(fd)
print("ok")
PY
)
check_eq "a secret written in three write(2) calls" ok "$out"
check_eq "exactly one request sent it" 1 "$(hub_count "$SET_S")"
check_eq "the Hub holds the whole value" true "$(jq --arg v "$SECRET_VALUE" '.secrets.THREE.value == $v' "$SJ")"

hub_stats_reset
python3 - "$A/variables/CHUNKS" <<'PY'
import os, sys
with open(sys.argv[1], "w", buffering=1) as f:  # line buffered: one write(2) per line
    for i in range(50):
        f.write("line %d\n" % i)
PY
check_eq "a 50-line variable: one request" 1 "$(hub_count "$SET_V")"
check_eq "the whole value (last newline stripped)" "$(seq -f 'line %g' 0 49)" "$(cat "$A/variables/CHUNKS")"
check_eq "on the Hub" "$(seq -f 'line %g' 0 49)" "$(jq -r .variables.CHUNKS.value "$SJ")"

# too big: EFBIG at write, nothing sent, the old value stays
echo small >"$A/variables/BIG"
hub_stats_reset
out=$(head -c 1048576 /dev/zero | tr '\0' x | python3 -c "
import errno, os, sys
data = sys.stdin.buffer.read()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
try:
    for i in range(0, len(data), 4096):
        os.write(fd, data[i:i + 4096])
    print('written')
except OSError as e:
    print(errno.errorcode[e.errno], i)
try:
    os.close(fd)
except OSError as e:
    print('close', errno.errorcode[e.errno])
" "$A/variables/BIG")
check_eq "1 MiB variable: EFBIG at the write past 64 KiB, and at close" "EFBIG 65536
close EFBIG" "$out"
check_eq "nothing was sent" 0 "$(hub_count "$SET_V")"
check_eq "the old value stays" small "$(cat "$A/variables/BIG")"
head -c 1048576 /dev/zero >"$WORK/big"
cp "$WORK/big" "$A/variables/BIG" 2>"$WORK/cp.err"
check_eq "cp of a 1 MiB file fails" 1 $?
check_match "with File too large" "File too large" "$(cat "$WORK/cp.err")"
check_eq "still nothing sent" 0 "$(hub_count "$SET_V")"

# the Hub's error reaches the writer at close
hub_fault '{"method":"POST","path":"/api/spaces/alice/chat/variables","action":"status","status":403,"count":-1}'
/bin/echo denied >"$A/variables/MODEL" 2>"$WORK/echo.err"
check_eq "/bin/echo exits 1 when the Hub refuses" 1 $?
check_match "and says why" "Permission denied" "$(cat "$WORK/echo.err")"
/usr/bin/printf denied >"$A/variables/MODEL" 2>/dev/null
check_eq "/usr/bin/printf exits 1" 1 $?
check_eq "Python's close() raises" EACCES "$(python3 -c "
import errno, sys
try:
    with open(sys.argv[1], 'w') as f:
        f.write('denied')
    print('OK')
except OSError as e:
    print(errno.errorcode[e.errno])" "$A/variables/MODEL")"
echo denied >"$A/variables/MODEL"
check_eq "bash's builtin echo cannot see it (a dup2 closes its redirection): exit 0" 0 $?
check_match "the log has the reason" "set variable of alice/chat.*(Permission denied|denied|403)" \
  "$(grep 'set variable' "$WORK/spacefs.err" | tail -1)"
hub_faults_clear
check_eq "the Hub kept its value" gpt2 "$(jq -r .variables.MODEL.value "$SJ")"

# rm of a variable some process holds open (libfuse hides it first; the router unlinks it)
echo v1 >"$A/variables/HELD"
out=$(python3 - "$A/variables" <<'PY'
import os, sys
d = sys.argv[1]
fd = os.open(os.path.join(d, "HELD"), os.O_RDONLY)
os.unlink(os.path.join(d, "HELD"))
st = os.fstat(fd)
print(st.st_nlink, "HELD" in os.listdir(d), [n for n in os.listdir(d) if n.startswith(".fuse")])
os.close(fd)
print([n for n in os.listdir(d) if n.startswith(".fuse")])
PY
)
check_eq "rm of an open variable works, fstat answers, nothing hidden is listed" "0 False []
[]" "$out"
check_eq "deleted on the Hub" null "$(jq -r .variables.HELD "$SJ")"
finish_fs
