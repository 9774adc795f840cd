#!/usr/bin/env bash
# hubmirror against the Hub emulator: first fetch, tree with LFS pointers, blob read, commit
# list, incremental fetch after a push by git (git-lfs), public probe, auth failures. The token
# goes through a 0600 file, never argv; we check it never shows in any output.
source "$SPACEFS_SOURCE_DIR/tests/lib/hub.sh"
TOOL="$SPACEFS_BUILD_DIR/tests/persist/persist_mirror_tool"
[ -x "$TOOL" ] || { echo "SKIP: $TOOL not built"; echo "0 passed, 0 failed"; exit 0; }
hub_start
export HF_ENDPOINT=$HUB
TOKEN=hf_alice_write
printf '%s' "$TOKEN" >"$WORK/token"; chmod 600 "$WORK/token"
export MIRROR_TOKEN_FILE="$WORK/token"
M="$WORK/cache/spacefs/persist/alice/chat/git"
OUT="$WORK/all-output"
mt() { "$TOOL" "$M" alice/chat-persist "$@" 2>>"$OUT.err" | tee -a "$OUT"; }

head1=$(mt fetch)
check_match "first fetch gives main's head" '^[0-9a-f]{40}$' "$head1"
check_eq "mirror directory is 0700" 700 "$(stat -c %a "$M")"
check_eq "local head equals fetched" "$head1" "$(mt head)"
check_eq "head matches the Hub's API" "$head1" \
  "$(curl -sS -H "Authorization: Bearer $(cat "$WORK/token")" "$HUB/api/datasets/alice/chat-persist/revision/main" | jq -r .sha)"
tree=$(mt tree)
check_match "tree lists notes.txt (5 bytes, not LFS)" 'file 100644 5 [0-9a-f]{40} - 0 notes.txt' "$tree"
check_match "tree lists the db directory" 'dir 040000 0 [0-9a-f]{40} - 0 db' "$tree"
oid=$(awk '$7=="notes.txt"{print $4}' <<<"$tree")
check_eq "blob read" hello "$(mt blob "$oid")"

# another writer pushes with git + git-lfs: a small file and an LFS file
git config --global user.email t@example.com >/dev/null 2>&1; git config --global user.name t
CL="$WORK/clone"
# the token reaches git through a credential helper reading the file (never argv or a URL)
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=credential.helper
export GIT_CONFIG_VALUE_0="!f() { echo username=hf_user; echo \"password=\$(cat '$WORK/token')\"; }; f"
git clone -q "$HUB/datasets/alice/chat-persist" "$CL" 2>>"$OUT.err"
(cd "$CL" && git lfs install --local >/dev/null && git lfs track '*.bin' >/dev/null &&
  head -c 300000 /dev/urandom >model.bin && echo "second" >second.txt &&
  git add .gitattributes model.bin second.txt && git commit -qm "push from git" &&
  git push -q origin main >>"$OUT.err" 2>&1)
sha=$(sha256sum "$CL/model.bin" | cut -d' ' -f1)
pushed=$(git -C "$CL" rev-parse HEAD)
hub_stats_reset
head2=$(mt fetch)
check_eq "incremental fetch sees the push" "$pushed" "$head2"
packs=$(hub_stats | jq -r '[.routes | to_entries[] | select(.key|test("upload-pack")) | .value.count] | add // 0')
check_eq "one upload-pack request for the incremental fetch" 1 "$packs"
tree=$(mt tree)
check_match "LFS pointer parsed (oid, size)" "file 100644 1[0-9][0-9] [0-9a-f]{40} $sha 300000 model.bin" "$tree"
check_match "small file is a plain blob" 'file 100644 7 [0-9a-f]{40} - 0 second.txt' "$tree"
ptr=$(awk '$7=="model.bin"{print $4}' <<<"$tree")
check_match "the blob is the pointer text" "oid sha256:$sha" "$(mt blob "$ptr")"
commits=$(mt commits)
check_eq "commit list newest first" "$pushed" "$(head -1 <<<"$commits" | cut -d' ' -f1)"
check_match "commit summary" 'push from git' "$(head -1 <<<"$commits")"
check_eq "first parent chain to the root" 3 "$(wc -l <<<"$commits")"
check_eq "max limits the list" 1 "$(mt commits 1 | wc -l)"
check_eq "tree at an older commit" 0 "$(mt tree "$head1" | grep -c model.bin)"
check_eq "second fetch with nothing new" "$pushed" "$(mt fetch)"

check_eq "private dataset: anonymous probe says private" private "$(mt probe)"
curl -sS -o /dev/null -X POST -H "Authorization: Bearer $(cat "$WORK/token")" -H 'Content-Type: application/json' \
  -d '{"name":"pub-data","organization":null,"type":"dataset","private":false}' "$HUB/api/repos/create"
check_eq "public dataset: anonymous probe says public" public "$("$TOOL" "$WORK/pub" alice/pub-data probe 2>>"$OUT.err")"
err=$(MIRROR_TOKEN_FILE= "$TOOL" "$WORK/anon" alice/chat-persist fetch 2>&1 >/dev/null); rc=$?
check_eq "anonymous fetch of a private dataset fails" 2 "$rc"
check_match "... as an auth error" 'authentication' "$err"
printf 'hf_wrong' >"$WORK/bad"; chmod 600 "$WORK/bad"
err=$(MIRROR_TOKEN_FILE="$WORK/bad" timeout 20 "$TOOL" "$WORK/bad-m" alice/chat-persist fetch 2>&1 >/dev/null); rc=$?
check_eq "a refused token fails (no retry loop)" 2 "$rc"
check_match "... saying the token was refused" 'refused the token' "$err"
chmod 664 "$WORK/bad"
err=$(MIRROR_TOKEN_FILE="$WORK/bad" "$TOOL" "$WORK/bad-m2" alice/chat-persist fetch 2>&1 >/dev/null)
check_match "a group-writable token file is refused (a readable one is used with a warning, docs/security.md)" 'writable by group or others.*chmod 600' "$err"
# A redirect to another host that asks for credentials gets none: libgit2 follows the redirect,
# the credentials callback sees a foreign origin and refuses. The other host records any
# Authorization header it receives.
cat >"$WORK/redir.py" <<'PY'
import http.server, sys, threading
seen = open(sys.argv[1], "w")
class Other(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.write("auth\n" if self.headers.get("Authorization") else "none\n"); seen.flush()
        self.send_response(401); self.send_header("WWW-Authenticate", 'Basic realm="x"')
        self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
other = http.server.HTTPServer(("127.0.0.1", 0), Other)
class Redir(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.1:%d%s" % (other.server_port, self.path))
        self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
redir = http.server.HTTPServer(("127.0.0.1", 0), Redir)
threading.Thread(target=other.serve_forever, daemon=True).start()
print(redir.server_port, flush=True)
redir.serve_forever()
PY
coproc REDIR { exec python3 "$WORK/redir.py" "$WORK/seen"; }
at_exit "kill $REDIR_PID 2>/dev/null"
read -r rport <&"${REDIR[0]}"
err=$(HF_ENDPOINT="http://127.0.0.1:$rport" timeout 20 "$TOOL" "$WORK/redir-m" alice/chat-persist fetch 2>&1 >/dev/null); rc=$?
check_eq "fetch redirected to another host fails" 2 "$rc"
check "the other host was asked" grep -q . "$WORK/seen"
check_eq "... and never received credentials" 0 "$(grep -c auth "$WORK/seen")"
check_match "... saying why" 'other than the Hub' "$err"

# One process owns a mirror: a second open is refused (EBUSY) instead of racing the first over
# refs and packs, and works again once the first is gone.
coproc HOLD { exec "$TOOL" "$M" alice/chat-persist hold 2>>"$OUT.err"; }
read -r held <&"${HOLD[0]}"
check_eq "a mirror held by a process" held "$held"
err=$("$TOOL" "$M" alice/chat-persist head 2>&1 >/dev/null); rc=$?
check_eq "a second process cannot open it" 2 "$rc"
check_match "... and says why" 'in use by another process' "$err"
exec {HOLD[1]}>&-
wait "$HOLD_PID"
check_eq "once the first is gone it opens" "$pushed" "$(mt head)"
# a filesystem without flock (NFS without lockd): the mirror opens as it did before locks, and
# says what it cannot do
err=$(MIRROR_NO_FLOCK=1 "$TOOL" "$M" alice/chat-persist head 2>&1 >"$WORK/nolock"); rc=$?
check_eq "no flock here: the mirror still opens" "0 $pushed" "$rc $(cat "$WORK/nolock")"
check_match "... and its log says what it cannot do" 'cannot lock .*No locks available' "$err"

# A process killed in the middle of a git write leaves X.lock (git's lockfile protocol), and
# git then refuses to write X: the next open removes them (its flock proves them stale), logs
# each, and the fetch that follows updates the ref and the config.
(cd "$CL" && echo third >third.txt && git add third.txt && git commit -qm third &&
  git push -q origin main >>"$OUT.err" 2>&1)
third=$(git -C "$CL" rev-parse HEAD)
: >"$M/config.lock"; : >"$M/refs/heads/main.lock"; : >"$M/packed-refs.lock"
err=$("$TOOL" "$M" alice/chat-persist fetch 2>&1 >"$WORK/fetched"); rc=$?
check_eq "fetch after a kill mid-write works" "0 $third" "$rc $(cat "$WORK/fetched")"
check_eq "the stale locks are gone" "" "$(cd "$M" && find . -name '*.lock')"
check_eq "each removal is logged" 3 "$(grep -c 'removed the stale lock' <<<"$err")"
check_match "... by its name" 'stale lock refs/heads/main.lock' "$err"
pushed=$third

hub_stop
err=$("$TOOL" "$M" alice/chat-persist fetch 2>&1 >/dev/null); rc=$?
check_eq "Hub down: fetch fails" 2 "$rc"
check_eq "Hub down: local head still readable" "$pushed" "$("$TOOL" "$M" alice/chat-persist head)"
check_eq "token never in any output" 0 "$(cat "$OUT" "$OUT.err" <(echo "$err") | grep -c "$TOKEN")"
finish
