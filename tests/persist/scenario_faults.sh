#!/bin/bash
# persist/ under injected Hub faults: 412 from a rule and from a real concurrent commit
# (@huggingface/hub), 429 with Retry-After, 503s and connection resets on preupload, commit, LFS
# batch and LFS storage, and a commit whose answer is cut after the Hub applied it. Commits only
# happen on `echo sync > control` here (long quiet period, no background fetch), so each round
# must add exactly one commit: the commits API count, every commit's diff, the file list and
# every file's content are checked at the end (nothing lost, nothing duplicated).
. "$(dirname "$0")/scenario_lib.sh"
require_fuse
require_node
hub_start
mount_persist "$WORK/cache" "persist_quiet=600,persist_ttl=600,persist_interval=1"
F="$P/faults"
mkdir -p "$F"
: >"$WORK/expected" # lines "path sha256" of every file we expect on the Hub
C0=$(ds_commits)
EXPECT_COMMITS=0
hits() { curl -sS "$HUB/_hubd/faults" | jq '[.[].hits] | add // 0'; }

# round NAME EXPECTED_HITS: write a small file and an LFS file, sync, check the faults were hit.
ROUND=0
round() {
  local name=$1 want_hits=$2 t rc
  ROUND=$((ROUND + 1))
  printf 'round %d: %s\n' "$ROUND" "$name" >"$F/r$ROUND.txt"
  head -c $((1100000 + ROUND * 1000)) /dev/urandom >"$WORK/r$ROUND.bin"
  cp "$WORK/r$ROUND.bin" "$F/r$ROUND.bin"
  t=$(ms)
  rc=$(psync 120)
  check_eq "$name: echo sync > control ($(($(ms) - t)) ms)" OK "$rc"
  check_eq "$name: the fault was hit" "$want_hits" "$(hits)"
  hub_faults_clear
  EXPECT_COMMITS=$((EXPECT_COMMITS + 1))
  echo "faults/r$ROUND.txt $(sha256sum <"$F/r$ROUND.txt" | cut -c1-64)" >>"$WORK/expected"
  echo "faults/r$ROUND.bin $(sha256sum <"$WORK/r$ROUND.bin" | cut -c1-64)" >>"$WORK/expected"
}
COMMIT='"path":"^/api/datasets/alice/chat-persist/commit/"'

section "412 from a fault rule"
hub_fault "{\"method\":\"POST\",$COMMIT,\"status\":412,\"count\":1,\"message\":\"A commit has happened since. Please refresh and try again.\"}"
round "412 rule" 1

section "412 from a real concurrent commit"
echo "theirs" >"$WORK/theirs.txt"
hfjs upload faults/theirs.txt="$WORK/theirs.txt" --title "concurrent hfjs commit" >/dev/null
check "hfjs committed between our base and our commit" test $? -eq 0
EXPECT_COMMITS=$((EXPECT_COMMITS + 1))
echo "faults/theirs.txt $(sha256sum <"$WORK/theirs.txt" | cut -c1-64)" >>"$WORK/expected"
hub_stats_reset
round "real 412" 0
check_eq "real 412: the stale commit was refused once" 1 "$(hub_stats | jq '[.routes[] | .statuses["412"] // 0] | add')"
check_eq "real 412: their file visible through the mount" theirs "$(cat "$F/theirs.txt")"

section "429 with Retry-After"
hub_fault "{\"method\":\"POST\",$COMMIT,\"status\":429,\"retry_after\":2,\"count\":1,\"message\":\"You have exceeded our hourly quotas for action: commit.\"}"
t=$(ms)
round "429 Retry-After 2" 1
check "429: Retry-After honoured (>= 2 s)" test $(($(ms) - t)) -ge 2000

section "503s and resets on the commit"
hub_fault "{\"method\":\"POST\",$COMMIT,\"status\":503,\"count\":2}"
round "commit 503 x2" 2
hub_fault "{\"method\":\"POST\",$COMMIT,\"action\":\"reset\",\"count\":2}"
round "commit reset x2" 2

section "faults on preupload and LFS"
hub_fault '{"method":"POST","path":"/preupload/","status":503,"count":1}'
hub_fault '{"method":"POST","path":"/preupload/","action":"reset","count":1}'
round "preupload 503 + reset" 2
hub_fault '{"method":"POST","path":"/info/lfs/objects/batch$","status":503,"count":2}'
hub_fault '{"method":"PUT","path":"^/lfs-storage/","action":"reset","count":1}'
round "LFS batch 503 x2 + storage PUT reset" 3
hub_fault '{"method":"POST","path":"/info/lfs/objects/batch$","status":429,"retry_after":1,"count":1}'
hub_fault '{"method":"PUT","path":"^/lfs-storage/","status":500,"count":1}'
round "LFS batch 429 + storage PUT 500" 2

section "commit applied but its answer cut"
hub_fault "{\"method\":\"POST\",$COMMIT,\"action\":\"truncate\",\"count\":1}"
round "commit answer truncated" 1

section "nothing lost, nothing duplicated"
check_eq "clean" clean "$(pstat state)"
N=$(( $(ds_commits) - C0 ))
check_eq "commits API: exactly one commit per round plus hfjs's" "$EXPECT_COMMITS" "$N"
if ds_clone "$WORK/clone"; then pass "git clone + git lfs pull"; else fail "git clone" "$(tail -3 "$LOGS/git.log")"; fi
empty=0
for h in $(git -C "$WORK/clone" rev-list "HEAD~$N..HEAD" 2>/dev/null); do
  [ -n "$(git -C "$WORK/clone" diff-tree --no-commit-id --name-only -r "$h")" ] || { empty=$((empty + 1)); echo "# empty commit $h: $(git -C "$WORK/clone" log -1 --format=%s "$h")"; }
done
check_eq "no empty (duplicate) commit among them" 0 "$empty"
git -C "$WORK/clone" log --format='# %h %s' -n "$((N + 1))"
check_eq "the Hub's file list under faults/ is exactly ours" "$(awk '{print $1}' "$WORK/expected" | sort | xargs)" \
  "$(hfjs files | awk '$1 ~ /^faults\// {print $1}' | sort | xargs)"
check_eq "every file's content (@huggingface/hub downloadFile)" "$(sort "$WORK/expected" | xargs)" \
  "$(hfjs sha $(awk '{print $1}' "$WORK/expected") | sort | xargs)"
check_eq "and in git" "$(sort "$WORK/expected" | xargs)" \
  "$(cd "$WORK/clone" && for f in $(awk '{print $1}' "$WORK/expected"); do echo "$f $(sha256sum <"$f" | cut -c1-64)"; done | sort | xargs)"
check_eq "LFS files are LFS" "$ROUND" "$(cd "$WORK/clone" && git lfs ls-files -n | grep -c '^faults/r[0-9]*\.bin$')"
check_eq "fixture files untouched" "hello" "$(cat "$WORK/clone/notes.txt")"

scenario_finish
