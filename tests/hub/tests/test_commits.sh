#!/usr/bin/env bash
# Commit routes with curl: preupload (uploadMode, shouldIgnore, oid) and the NDJSON commit
# (header, file, lfsFile, deletedFile, deletedFolder; 412, 400, 422, 404, 429), the
# .gitattributes lines the server adds, and the push hook that rebuilds a Space.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")
AR=(-H "Authorization: Bearer hf_alice_read")
C="$HUB/api/datasets/alice/chat-persist/commit/main"
PRE="$HUB/api/datasets/alice/chat-persist/preupload/main"
b64() { base64 -w0; }
# commit_ndjson FILE [curl args]: POST an NDJSON file, body to $WORK/out, prints the status
commit_ndjson() { local f=$1; shift; curl -sS -o "$WORK/out" -w '%{http_code}' -X POST "$C" "${AW[@]}" \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$f" "$@"; }
head_sha() { curl -sS "${AW[@]}" "$HUB/api/datasets/alice/chat-persist" | jq -r .sha; }
# LFS upload of a file through the batch API (as a client does before committing it)
lfs_upload() {
  local f=$1 oid size href
  oid=$(sha256sum "$f" | cut -d' ' -f1) size=$(stat -c %s "$f")
  href=$(curl -sS -X POST "$HUB/datasets/alice/chat-persist.git/info/lfs/objects/batch" "${AW[@]}" \
    -H 'Content-Type: application/vnd.git-lfs+json' \
    -d "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" |
    jq -r '.objects[0].actions.upload.href // empty')
  [ -n "$href" ] && curl -sS -o /dev/null -X PUT --data-binary @"$f" "$href"
  echo "$oid"
}

# --- preupload ---
pre=$(jq -nc --arg s "$(printf '%s' hi | b64)" --arg b "$(printf 'ab\0cd' | b64)" '{files: [
  {path: "notes.txt", size: 2, sample: $s},
  {path: "model.safetensors", size: 100, sample: $s},
  {path: "huge.txt", size: 11534336, sample: $s},
  {path: "blob.dat", size: 2000000, sample: $b},
  {path: "small.dat", size: 5, sample: $b},
  {path: "empty.bin", size: 0, sample: ""},
  {path: "db/data.sqlite", size: 16, sample: $s},
  {path: "logs/x.log", size: 2, sample: $s}], gitIgnore: "*.log\n"}')
curl -sS -X POST "$PRE" "${AW[@]}" -H 'Content-Type: application/json' -d "$pre" >"$WORK/pre"
mode() { jq -r --arg p "$1" '.files[] | select(.path==$p) | "\(.uploadMode) \(.shouldIgnore)"' "$WORK/pre"; }
check_eq "preupload regular text" "regular false" "$(mode notes.txt)"
check_eq "preupload lfs by .gitattributes pattern" "lfs false" "$(mode model.safetensors)"
check_eq "preupload lfs above 10 MiB" "lfs false" "$(mode huge.txt)"
check_eq "preupload binary sample above 1 MiB: lfs" "lfs false" "$(mode blob.dat)"
check_eq "preupload small binary: regular" "regular false" "$(mode small.dat)"
check_eq "preupload empty *.bin: regular" "regular false" "$(mode empty.bin)"
check_eq "preupload shouldIgnore from gitIgnore" "regular true" "$(mode logs/x.log)"
check_eq "preupload oid of an existing regular file is its git sha1" \
  "$(printf hello | git hash-object --stdin)" "$(jq -r '.files[] | select(.path=="notes.txt") .oid' "$WORK/pre")"
check_eq "preupload no oid for new paths" null "$(jq -r '.files[] | select(.path=="huge.txt") .oid' "$WORK/pre")"
check_eq "preupload commitOid" "$(head_sha)" "$(jq -r .commitOid "$WORK/pre")"
check_eq "preupload with a read token: 403" 403 "$(status POST "$PRE" "${AR[@]}" -H 'Content-Type: application/json' -d "$pre")"
check_eq "preupload without token (private repo): 401" 401 "$(status POST "$PRE" -H 'Content-Type: application/json' -d "$pre")"
check_eq "preupload of an unknown revision: 404" 404 \
  "$(status POST "${PRE%/main}/nope" "${AW[@]}" -H 'Content-Type: application/json' -d "$pre")"

# --- commit: file + lfsFile, header with description and full parentCommit, no trailing newline ---
head -c 200000 /dev/urandom >"$WORK/p.weights"
oid=$(lfs_upload "$WORK/p.weights")
parent=$(head_sha)
{
  jq -nc --arg p "$parent" '{key: "header", value: {summary: "Add files", description: "Longer text", parentCommit: $p}}'
  jq -nc --arg c "$(printf 'new notes' | b64)" '{key: "file", value: {path: "notes.txt", content: $c, encoding: "base64"}}'
  jq -nc --arg c "$(printf 'one' | b64)" '{key: "file", value: {path: "dir/one.txt", content: $c, encoding: "base64"}}'
  jq -nc --arg o "$oid" '{key: "lfsFile", value: {path: "my weights.weights", algo: "sha256", oid: $o, size: 200000}}'
  jq -nc --arg o "$oid" '{key: "lfsFile", value: {path: "copy.bin", algo: "sha256", oid: $o}}'
} | head -c -1 >"$WORK/c1"
check_eq "commit (no trailing newline)" 200 "$(commit_ndjson "$WORK/c1")"
new=$(jq -r .commitOid "$WORK/out")
check_eq "commit reply" "true $HUB/datasets/alice/chat-persist/commit/$new " \
  "$(jq -r '"\(.success) \(.commitUrl) \(.hookOutput)"' "$WORK/out")"
check_eq "branch moved to commitOid" "$new" "$(head_sha)"
check_eq "regular file content" "new notes" "$(curl -sS "${AW[@]}" "$HUB/datasets/alice/chat-persist/resolve/main/notes.txt")"
check_eq "lfsFile content" "$oid" \
  "$(curl -sSL "${AW[@]}" "$HUB/datasets/alice/chat-persist/resolve/main/my%20weights.weights" | sha256sum | cut -d' ' -f1)"
attrs=$(curl -sS "${AW[@]}" "$HUB/datasets/alice/chat-persist/resolve/main/.gitattributes")
check_eq ".gitattributes line added for the untracked lfsFile path" 1 \
  "$(grep -cxF 'my[[:space:]]weights.weights filter=lfs diff=lfs merge=lfs -text' <<<"$attrs")"
check_eq "  and preupload now says lfs for that path" lfs \
  "$(curl -sS -X POST "$PRE" "${AW[@]}" -H 'Content-Type: application/json' \
     -d '{"files":[{"path":"my weights.weights","size":3,"sample":"YWJj"}]}' | jq -r '.files[0].uploadMode')"
check_eq "no line for a path *.bin already tracks" 0 "$(grep -c '^copy.bin' <<<"$attrs")"
check_eq "copy via lfsFile without size" "200000 $oid" \
  "$(curl -sS "${AW[@]}" "$HUB/api/datasets/alice/chat-persist/paths-info/main" -d paths=copy.bin | jq -r '.[0] | "\(.size) \(.lfs.oid)"')"
check_eq "preupload oid of an LFS file is its sha256" "$oid" \
  "$(curl -sS -X POST "$PRE" "${AW[@]}" -H 'Content-Type: application/json' \
     -d '{"files":[{"path":"copy.bin","size":200000,"sample":""}]}' | jq -r '.files[0].oid')"
check_eq "title and description in history" "Add files|Longer text|alice" \
  "$(curl -sS "${AW[@]}" "$HUB/api/datasets/alice/chat-persist/commits/main" | jq -r '.[0] | "\(.title)|\(.message)|\(.authors[0].user)"')"

# --- parentCommit: 7-hex prefix accepted, stale parent 412 ---
short=${new:0:7}
printf '{"key":"header","value":{"summary":"prefix parent","parentCommit":"%s"}}\n{"key":"deletedFile","value":{"path":"copy.bin"}}\n' "$short" >"$WORK/c2"
check_eq "parentCommit as a 7-hex prefix" 200 "$(commit_ndjson "$WORK/c2")"
check_eq "deletedFile removed the file" 404 "$(status GET "$HUB/datasets/alice/chat-persist/resolve/main/copy.bin" "${AW[@]}")"
check_eq "stale parentCommit: 412" 412 "$(commit_ndjson "$WORK/c1")"
check_eq "412 message" "The branch was updated since you opened this page. Please refresh and try again." \
  "$(jq -r .error "$WORK/out")"

# --- deletedFolder, deleting missing entries ---
printf '{"key":"header","value":{"summary":"rm dir"}}\n{"key":"deletedFolder","value":{"path":"dir/"}}\n' >"$WORK/c3"
check_eq "deletedFolder" 200 "$(commit_ndjson "$WORK/c3")"
check_eq "folder gone" 404 "$(status GET "$HUB/api/datasets/alice/chat-persist/tree/main/dir" "${AW[@]}")"
printf '{"key":"header","value":{"summary":"rm"}}\n{"key":"deletedFile","value":{"path":"nope.txt"}}\n' >"$WORK/c4"
check_eq "deleting a missing file: 404" 404 "$(commit_ndjson "$WORK/c4" -D "$WORK/h")"
check_eq "  with X-Error-Code EntryNotFound" EntryNotFound "$(grep -i '^x-error-code' "$WORK/h" | awk '{print $2}' | tr -d '\r')"

# --- refusals ---
before=$(head_sha)
head -c $((10 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$WORK/big.txt"
{ echo '{"key":"header","value":{"summary":"big"}}'
  printf '{"key":"file","value":{"path":"big.txt","encoding":"base64","content":"'; b64 <"$WORK/big.txt"; echo '"}}'; } >"$WORK/c5"
check_eq "regular file above 10 MiB: 400" 400 "$(commit_ndjson "$WORK/c5")"
check_match "  with the Hub's message" "files larger than 10 MiB.*Offending files:.*big.txt \(ref: refs/heads/main\)" \
  "$(jq -r .error "$WORK/out" | tr '\n' ' ')"
for p in '../etc/passwd' '..\\ddd' '/abs' 'a//b' '.git/config'; do
  printf '{"key":"header","value":{"summary":"bad"}}\n{"key":"file","value":{"path":"%s","content":"","encoding":"base64"}}\n' "$p" >"$WORK/c6"
  check_eq "bad path $p: 422" 422 "$(commit_ndjson "$WORK/c6")"
done
printf '{"key":"header","value":{"summary":"x"}}\n{"key":"lfsFile","value":{"path":"m.bin","algo":"sha256","oid":"%s"}}\n' \
  "$(printf 'never uploaded' | sha256sum | cut -d' ' -f1)" >"$WORK/c7"
check_eq "lfsFile whose object was never uploaded: 400" 400 "$(commit_ndjson "$WORK/c7")"
check_match "  with a clear message" "has not been uploaded" "$(jq -r .error "$WORK/out")"
printf '{"key":"file","value":{"path":"a","content":""}}\n' >"$WORK/c8"
check_eq "no header first: 400" 400 "$(commit_ndjson "$WORK/c8")"
printf '{"key":"header","value":{"summary":""}}\n' >"$WORK/c9"
check_eq "empty summary: 400" 400 "$(commit_ndjson "$WORK/c9")"
printf '{"key":"header","value":{"summary":"x"}}\n' >"$WORK/c10"
check_eq "commit with a read token: 403" 403 "$(status POST "$C" "${AR[@]}" --data-binary @"$WORK/c10")"
check_eq "commit to an unknown branch: 404" 404 "$(status POST "${C%/main}/nope" "${AW[@]}" --data-binary @"$WORK/c10")"
check_eq "refused commits left the branch alone" "$before" "$(head_sha)"

# --- a commit to a Space fires the push hook: the Space rebuilds ---
check_eq "alice/chat runs before" RUNNING "$(curl -sS "$HUB/api/spaces/alice/chat/runtime" | jq -r .stage)"
printf '{"key":"header","value":{"summary":"edit app"}}\n{"key":"file","value":{"path":"app.py","content":"%s","encoding":"base64"}}\n' \
  "$(printf 'print(2)\n' | b64)" >"$WORK/c11"
check_eq "commit to the Space" 200 "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$HUB/api/spaces/alice/chat/commit/main" "${AW[@]}" --data-binary @"$WORK/c11")"
check_match "Space rebuilds after the commit" "BUILDING|APP_STARTING" "$(curl -sS "$HUB/api/spaces/alice/chat/runtime" | jq -r .stage)"

# --- commit quota (unconfigured by default, then 2 per window) ---
curl -sS -o /dev/null -X POST "$HUB/_hubd/ratelimit" -H 'Content-Type: application/json' -d '{"bucket":"commit","quota":2,"window":3600}'
check_eq "commit 1 within quota" 200 "$(commit_ndjson "$WORK/c10")"
check_eq "commit 2 within quota" 200 "$(commit_ndjson "$WORK/c10")"
check_eq "commit 3: 429" 429 "$(commit_ndjson "$WORK/c10" -D "$WORK/h")"
check_match "  the Hub's message" "^You have exceeded our hourly quotas for action: commit" "$(jq -r .error "$WORK/out")"
check_match "  Retry-After" "^[0-9]+$" "$(grep -i '^retry-after' "$WORK/h" | awk '{print $2}' | tr -d '\r')"
curl -sS -o /dev/null -X POST "$HUB/_hubd/ratelimit" -H 'Content-Type: application/json' -d '{"bucket":"commit","quota":null}'
check_eq "quota removed" 200 "$(commit_ndjson "$WORK/c10")"
finish
