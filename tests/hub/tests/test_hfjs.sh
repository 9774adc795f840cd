#!/usr/bin/env bash
# The official @huggingface/hub client (tests/js/hub_client.mjs) against hubd: it must work
# unmodified. hubd offers multipart above 2 MiB here, so the 5 MiB file goes through it.
. "$(dirname "$0")/../../lib/hub.sh"
JS="$TESTS_ROOT/js"
if ! command -v node >/dev/null || [ ! -d "$JS/node_modules/@huggingface/hub" ]; then
  echo "SKIP: node or tests/js/node_modules missing (run npm ci in tests/js)"; exit 77
fi
hub_start --lfs-multipart-threshold 2097152 --lfs-chunk-size 1048576
hub_stats_reset
HF_TOKEN=hf_alice_write node "$JS/hub_client.mjs" >"$WORK/js.json" 2>"$WORK/js.err"
rc=$?
check_eq "node script ran" 0 "$rc"
[ $rc -eq 0 ] || sed 's/hf_[A-Za-z_]*/<token>/g' "$WORK/js.err" | tail -20
j() { jq -r "$1" "$WORK/js.json"; }

check_eq "whoAmI" "alice user" "$(j '"\(.whoami.name) \(.whoami.type)"')"
check_match "listSpaces(owner alice)" "alice/chat.*alice/notes" "$(j '.spaces | join(" ")')"
check_eq "spaceInfo" "alice/chat docker false" "$(j '"\(.spaceInfo.name) \(.spaceInfo.sdk) \(.spaceInfo.private)"')"
check_eq "createRepo" "$HUB/datasets/alice/js-data" "$(j .created)"
check_match "createRepo again: 409 HubApiError" "^409 You already created this dataset repo" \
  "$(j '"\(.createAgain.status) \(.createAgain.message)"')"
check_match "uploadFiles commit" '^[0-9a-f]{40}$' "$(j .commitOid)"
check_eq "listFiles: small.txt regular" "file 26 null" "$(j '.files["small.txt"] | "\(.type) \(.size) \(.lfs)"')"
check_eq "listFiles: mid.bin LFS" "$(j .expected.mid) 1572864" "$(j '.files["data/mid.bin"] | "\(.lfs) \(.size)"')"
check_eq "listFiles: big.bin LFS" "$(j .expected.big) 5255225" "$(j '.files["data/big.bin"] | "\(.lfs) \(.size)"')"
check_eq "listFiles: folder entry" directory "$(j '.files.data.type')"
check_eq "downloadFile small" "hello from huggingface.js" "$(j .download.small)"
check_eq "downloadFile LFS (basic upload) intact" true "$(j .download.mid)"
check_eq "downloadFile LFS (multipart upload) intact" true "$(j .download.big)"
check_eq "downloadFile of a missing path: null" null "$(j .download.missing)"
check_eq "pathsInfo (missing skipped, expand lastCommit)" \
  "small.txt:null:upload from js data/big.bin:$(j .expected.big):upload from js" \
  "$(j '[.pathsInfo[] | "\(.path):\(.lfs):\(.lastCommit)"] | sort_by(. | startswith("data")) | join(" ")')"
check_eq "deleteFile" ".gitattributes data" "$(j '.afterDelete | join(" ")')"
check_eq "deleteFile of a missing file: 404" 404 "$(j .deleteMissing.status)"
check_eq "listCommits (paged by 2)" "Delete small.txt|upload from js|initial commit" "$(j '.commits | join("|")')"
check_eq "private repo without token: 401" 401 "$(j .anonymous.status)"
check_eq "after deleteRepo: not found" 404 "$(j .afterDeleteRepo.status)"

# what went over the wire
check_eq "one basic LFS PUT (mid.bin)" 1 "$(hub_count 'PUT /lfs-storage/objects/{oid}')"
check_eq "six multipart part PUTs (big.bin, 1 MiB parts)" 6 "$(hub_count 'PUT /lfs-storage/multipart/{oid}/{part}')"
check_eq "one multipart completion" 1 "$(hub_count 'POST /lfs-storage/multipart/{oid}')"
check_eq "one preupload and three commits" "1 3" \
  "$(hub_count 'POST /api/datasets/{ns}/{name}/preupload/{rev}') $(hub_count 'POST /api/datasets/{ns}/{name}/commit/{rev}')"
check_eq "no token in the client's output" 0 "$(cat "$WORK/js.json" "$WORK/js.err" | grep -c 'hf_alice')"
finish
