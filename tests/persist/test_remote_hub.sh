#!/usr/bin/env bash
# The persist engine with its real remote (remote_hub.c over hubclient + hubmirror) against the
# Hub emulator: reads of existing files, a commit with a small file and an LFS file checked
# with git clone + git lfs pull + sha256, remote changes, injected 412/5xx, a missing Dataset
# created private, a public one refused, offline reads. The token only ever lives in a file.
source "$SPACEFS_SOURCE_DIR/tests/lib/hub.sh"
TOOL="$SPACEFS_BUILD_DIR/tests/persist/persist_hub_tool"
[ -x "$TOOL" ] || { echo "SKIP: $TOOL not built"; echo "0 passed, 0 failed"; exit 0; }
hub_start
export HF_ENDPOINT=$HUB
TOKEN=hf_alice_write
printf '%s' "$TOKEN" >"$WORK/token"; chmod 600 "$WORK/token"
export PERSIST_TOKEN_FILE="$WORK/token"
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=credential.helper
export GIT_CONFIG_VALUE_0="!f() { echo username=hf_user; echo \"password=\$(cat '$WORK/token')\"; }; f"
git config --global user.email t@example.com >/dev/null 2>&1; git config --global user.name t
C="$WORK/cache/alice/chat"
LOG="$WORK/log"
ht() { "$TOOL" "$@" 2>>"$LOG"; }
api() { curl -sS -H "Authorization: Bearer $(cat "$WORK/token")" "$HUB$1"; }

check_eq "existing files listed (.gitattributes is a normal file)" ".gitattributes 2322|db/ 0|notes.txt 5" "$(ht "$C" alice/chat-persist ls "" | sort | paste -sd'|')"
check_eq "existing file read through the mirror" hello "$(ht "$C" alice/chat-persist cat notes.txt)"
check_eq "cache dir is 0700" 700 "$(stat -c %a "$C/git")"

echo "small text" >"$WORK/small.txt"
head -c 3000000 /dev/urandom >"$WORK/big.bin"
check "put small + LFS file and sync" ht "$C" alice/chat-persist put small.txt "$WORK/small.txt" -- mkdir data -- \
  put data/big.bin "$WORK/big.bin" -- sync
state=$(ht "$C" alice/chat-persist state)
check_match "clean after sync" 'state: clean' "$state"
CL="$WORK/clone"
git clone -q "$HUB/datasets/alice/chat-persist" "$CL" 2>>"$LOG"
(cd "$CL" && git lfs pull >/dev/null 2>>"$LOG")
check_eq "small file in git" "$(sha256sum <"$WORK/small.txt")" "$(sha256sum <"$CL/small.txt")"
check_eq "LFS file after git lfs pull" "$(sha256sum <"$WORK/big.bin")" "$(sha256sum <"$CL/data/big.bin")"
check_eq "big.bin is an LFS pointer in git" "data/big.bin" "$(cd "$CL" && git lfs ls-files -n)"
check_match ".gitattributes tracks it" 'bin filter=lfs' "$(cat "$CL/.gitattributes")"
check_eq "one commit for both files" 1 "$(git -C "$CL" log --oneline | grep -c 'persist:')"
check_eq "fixture files kept" hello "$(cat "$CL/notes.txt")"

# a fresh cache reads the LFS file lazily (resolve + sha256 check)
check_eq "LFS read from an empty cache" "$(sha256sum <"$WORK/big.bin")" \
  "$(ht "$WORK/cache2" alice/chat-persist cat data/big.bin | sha256sum)"
check_eq "the object it read whole is cached under its sha256" 3000000 \
  "$(stat -c %s "$WORK/cache2/objects/l$(sha256sum <"$WORK/big.bin" | cut -c1-64)")"

# streaming reads: ranged GETs, one resolve, then the signed storage URL again for later ranges
# (no token there); an expired one (the emulator's clock moved past X-Expires) resolves again
RESOLVE='GET|HEAD /datasets/{ns}/{name}/resolve/{rev}/{path*}'
STORAGE='GET /lfs-storage/objects/{oid}'
ranges() { dd if="$WORK/big.bin" bs=4096 skip=$1 count=1 2>/dev/null; dd if="$WORK/big.bin" bs=4096 skip=$2 count=1 2>/dev/null; }
hub_stats_reset
check_eq "two random 4 KiB reads from an empty cache" "$(ranges 100 600 | sha256sum)" \
  "$(ht "$WORK/cache3" alice/chat-persist pread data/big.bin 409600 4096 -- pread data/big.bin 2457600 4096 | sha256sum)"
hub_stats >"$WORK/stats.json"
check_eq "one resolve (redirected to storage), then storage directly for the second range" "1 2" \
  "$(jq -r --arg r "$RESOLVE" '.routes[$r].count // 0' "$WORK/stats.json") $(jq -r --arg r "$STORAGE" '.routes[$r].count // 0' "$WORK/stats.json")"
check_eq "both answered 206 (Range honoured)" 2 \
  "$(jq -r --arg r "$STORAGE" '.routes[$r].statuses["206"] // 0' "$WORK/stats.json")"
check "a few KiB fetched, not the 3 MB object" test "$(jq -r --arg r "$STORAGE" '.routes[$r].bytes_out' "$WORK/stats.json")" -lt 300000
hub_stats_reset
ht "$WORK/cache4" alice/chat-persist pread data/big.bin 409600 4096 -- \
  run "curl -sS -X POST '$HUB_ADMIN/_hubd/clock' -H 'Content-Type: application/json' -d '{\"advance\": 4000}' >/dev/null" -- \
  pread data/big.bin 2457600 4096 >"$WORK/ranges2"
hub_stats >"$WORK/stats.json"
check_eq "after the signed URL expired: the same bytes" "$(ranges 100 600 | sha256sum)" "$(sha256sum <"$WORK/ranges2")"
check_eq "refused once (403), resolved again" "1 2" \
  "$(jq -r --arg r "$STORAGE" '.routes[$r].statuses["403"] // 0' "$WORK/stats.json") $(jq -r --arg r "$RESOLVE" '.routes[$r].count // 0' "$WORK/stats.json")"

# another writer (git), then our sync sees it; our rename + delete go up
(cd "$CL" && echo theirs >other.txt && git add other.txt && git commit -qm other && git push -q origin main >>"$LOG" 2>&1)
check_eq "remote change visible after a sync" theirs "$(ht "$C" alice/chat-persist sync -- cat other.txt)"
check "rename + delete + sync" ht "$C" alice/chat-persist mv data/big.bin moved.bin -- rm notes.txt -- sync
(cd "$CL" && git pull -q >>"$LOG" 2>&1 && git lfs pull >/dev/null 2>>"$LOG")
check_eq "renamed LFS file (copied by oid)" "$(sha256sum <"$WORK/big.bin")" "$(sha256sum <"$CL/moved.bin")"
check_eq "deleted file gone, other writer's file kept" "no theirs" \
  "$([ -e "$CL/notes.txt" ] && echo yes || echo no) $(cat "$CL/other.txt")"

# injected 412 on the commit route: fetch and retry; 503 on LFS batch: retried by the client
hub_stats_reset
hub_fault '{"method":"POST","path":"/api/datasets/alice/chat-persist/commit/.*","action":"status","status":412,"count":1,"message":"The branch was updated since you opened this page."}'
echo v2 >"$WORK/v2.txt"
check "sync through an injected 412" ht "$C" alice/chat-persist put v2.txt "$WORK/v2.txt" -- sync
hub_faults_clear
check_eq "commit route: one 412 then one 200" "1 1" \
  "$(hub_stats | jq -r '[.routes[] | select(.statuses["412"]) | .statuses["412"]] | add // 0') $(hub_stats | jq -r '[.routes | to_entries[] | select(.key|test("commit")) | .value.statuses["200"] // 0] | add')"
git -C "$CL" pull -q >>"$LOG" 2>&1
check_eq "v2 arrived once" 1 "$(git -C "$CL" log --oneline -- v2.txt | wc -l)"
hub_fault '{"method":"POST","path":".*/info/lfs/objects/batch","action":"status","status":503,"count":2}'
head -c 2000000 /dev/urandom >"$WORK/big2.bin"
check "sync through LFS batch 503s" ht "$C" alice/chat-persist put big2.bin "$WORK/big2.bin" -- sync
hub_faults_clear
git -C "$CL" pull -q >>"$LOG" 2>&1; (cd "$CL" && git lfs pull >/dev/null 2>>"$LOG")
check_eq "big2 intact" "$(sha256sum <"$WORK/big2.bin")" "$(sha256sum <"$CL/big2.bin")"

# a file above the Hub's 10 MiB regular-file limit can only be LFS: its LFS upload goes out beside
# preupload instead of after it. With preupload refused (400) the attempt fails, but the batch and
# the PUT were sent meanwhile; the next sync's batch finds the object stored (no second PUT).
hub_stats_reset
hub_fault '{"method":"POST","path":"/api/datasets/alice/chat-persist/preupload/.*","action":"status","status":400,"count":1}'
head -c 11534336 /dev/urandom >"$WORK/big3.bin"
ht "$C" alice/chat-persist put big3.bin "$WORK/big3.bin" -- sync; rc=$?
hub_faults_clear
check_eq "sync with preupload refused fails" 1 "$([ "$rc" -ne 0 ] && echo 1 || echo 0)"
routes() { hub_stats | jq -r --arg re "$1" --arg s "$2" '[.routes | to_entries[] | select(.key|test($re)) | .value.statuses[$s] // 0] | add // 0'; }
check_eq "preupload refused once" 1 "$(routes preupload 400)"
check_eq "the LFS batch went out beside the refused preupload" 1 "$(routes lfs/objects/batch 200)"
check_eq "and the PUT" 1 "$(routes '^PUT .*lfs' 200)"
check "the next sync commits it" ht "$C" alice/chat-persist sync
check_eq "preupload then answered" 1 "$(routes preupload 200)"
check_eq "a second batch, no second PUT (the object is stored)" "2 1" "$(routes lfs/objects/batch 200) $(routes '^PUT .*lfs' 200)"
git -C "$CL" pull -q >>"$LOG" 2>&1; (cd "$CL" && git lfs pull >/dev/null 2>>"$LOG")
check_eq "big3 intact" "$(sha256sum <"$WORK/big3.bin")" "$(sha256sum <"$CL/big3.bin")"

# a missing Dataset is created private on the first write
check "write to a missing Dataset" ht "$WORK/c3" alice/chat-new-persist put a.txt "$WORK/small.txt" -- sync
check_eq "created private" true "$(api /api/datasets/alice/chat-new-persist | jq -r .private)"
check_eq "and holds the file" "small text" "$(api /datasets/alice/chat-new-persist/resolve/main/a.txt)"

# a public Dataset is refused
curl -sS -o /dev/null -X POST -H "Authorization: Bearer $(cat "$WORK/token")" -H 'Content-Type: application/json' \
  -d '{"name":"pub-persist","organization":null,"type":"dataset","private":false}' "$HUB/api/repos/create"
before=$(api /api/datasets/alice/pub-persist/commits/main | jq length)
out=$("$TOOL" "$WORK/c4" alice/pub-persist put x.txt "$WORK/small.txt" -- sync 2>&1); rc=$?
check_eq "sync to a public Dataset fails" 1 "$rc"
check_match "with EACCES and a clear line" 'public.*(EACCES|Permission denied)|Permission denied' "$out"
check_eq "nothing committed to it" "$before" "$(api /api/datasets/alice/pub-persist/commits/main | jq length)"

# Hub down: the cache still serves what it has
hub_stop
check_eq "offline: listing from the journal/mirror" yes \
  "$(ht "$C" alice/chat-persist ls "" | grep -q '^moved.bin' && echo yes)"
check_eq "offline: small file from the mirror" "v2" "$(ht "$C" alice/chat-persist cat v2.txt)"
echo offline >"$WORK/off.txt"
check "offline: writes work locally" ht "$C" alice/chat-persist put off.txt "$WORK/off.txt"
check_match "offline: pending" 'state: pending' "$(ht "$C" alice/chat-persist state)"
HUB_STATE=$WORK/state hub_start
export HF_ENDPOINT=$HUB
check "back online: sync uploads" ht "$C" alice/chat-persist sync
check_eq "off.txt arrived" offline "$(api /datasets/alice/chat-persist/resolve/main/off.txt)"
check_eq "token never in any output" 0 "$(cat "$LOG" "$WORK"/hubd.* <(echo "$out") 2>/dev/null | grep -c "$TOKEN")"
finish
