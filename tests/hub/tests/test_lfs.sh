#!/usr/bin/env bash
# The LFS batch API with curl: auth (Bearer, basic, 401 challenge, 403, 404), hash_algo
# spellings, basic PUT with sha256/size checks, the Hub's multipart transfer (hubd started with
# a 1 MiB threshold), verify, download actions, per-object errors, "already stored".
. "$(dirname "$0")/../../lib/hub.sh"
hub_start --lfs-multipart-threshold 1048576 --lfs-chunk-size 400000
AW=(-H "Authorization: Bearer hf_alice_write")
AR=(-H "Authorization: Bearer hf_alice_read")
BW=(-H "Authorization: Bearer hf_bob_write")
CT=(-H 'Accept: application/vnd.git-lfs+json' -H 'Content-Type: application/vnd.git-lfs+json')
B="$HUB/datasets/alice/chat-persist.git/info/lfs/objects/batch"
hdr() { grep -i "^$1:" | head -1 | sed -E 's/^[^:]*: *//' | tr -d '\r'; }
req() { jq -nc --arg op "$1" --arg algo "$2" --arg oid "$3" --argjson size "$4" \
  '{operation: $op, transfers: ["basic", "multipart"], hash_algo: $algo, ref: {name: "main"},
    objects: [{oid: $oid, size: $size}]}'; }
batch() { curl -sS -o "$WORK/out" -w '%{http_code}' -X POST "$B" "${CT[@]}" "$@"; }

head -c 100000 /dev/urandom >"$WORK/small"
s_oid=$(sha256sum "$WORK/small" | cut -d' ' -f1)
# --- auth ---
check_eq "batch without auth on a private repo: 401" 401 "$(batch -D "$WORK/h" -d "$(req upload sha256 "$s_oid" 100000)")"
check_match "  with a Basic challenge" '^Basic' "$(hdr www-authenticate <"$WORK/h")"
check_eq "batch upload with a read token: 403" 403 "$(batch "${AR[@]}" -d "$(req upload sha256 "$s_oid" 100000)")"
check_eq "batch by bob on alice's private repo: 404" 404 "$(batch "${BW[@]}" -d "$(req upload sha256 "$s_oid" 100000)")"
check_eq "batch download with a read token: 200" 200 "$(batch "${AR[@]}" -d "$(req download sha256 "$s_oid" 100000)")"
check_eq "  missing object: per-object error 404 (int) + message" "number 404 string" \
  "$(jq -r '.objects[0].error | "\(.code | type) \(.code) \(.message | type)"' "$WORK/out")"
check_eq "batch with basic auth (token as password)" 200 \
  "$(batch -u "hf_user:hf_alice_write" -d "$(req upload sha_256 "$s_oid" 100000)")"
check_match "  reply content type" '^application/vnd.git-lfs\+json' \
  "$(curl -sS -D - -o /dev/null -X POST "$B" "${CT[@]}" "${AW[@]}" -d "$(req upload sha256 "$s_oid" 100000)" | hdr content-type)"

# --- basic upload ---
check_eq "basic transfer offered (hash_algo sha_256)" basic "$(jq -r .transfer "$WORK/out")"
href=$(jq -r '.objects[0].actions.upload.href' "$WORK/out")
verify=$(jq -r '.objects[0].actions.verify.href' "$WORK/out")
check_eq "verify href" "$HUB/datasets/alice/chat-persist.git/info/lfs/objects/verify" "$verify"
check_eq "batch reply has no token" 0 "$(grep -c hf_alice "$WORK/out")"
head -c 100000 /dev/urandom >"$WORK/other"
check_eq "PUT of content with another sha256: 400" 400 "$(status PUT "$href" --data-binary @"$WORK/other")"
check_eq "PUT of fewer bytes: 400" 400 "$(status PUT "$href" --data-binary @<(head -c 50000 "$WORK/small"))"
check_eq "PUT to a tampered URL: 403" 403 "$(status PUT "${href/X-Signature=/X-Signature=1}" --data-binary @"$WORK/small")"
check_eq "verify before the upload: 404" 404 \
  "$(status POST "$verify" "${CT[@]}" "${AW[@]}" -d "{\"oid\":\"$s_oid\",\"size\":100000}")"
check_eq "PUT without a token (signed URL)" 200 "$(status PUT "$href" --data-binary @"$WORK/small")"
check_eq "PUT chunked body" 200 "$(status PUT "$href" -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/small")"
check_eq "verify after the upload" 200 \
  "$(status POST "$verify" "${CT[@]}" "${AW[@]}" -d "{\"oid\":\"$s_oid\",\"size\":100000}")"
check_eq "verify needs auth: 401" 401 "$(status POST "$verify" "${CT[@]}" -d "{\"oid\":\"$s_oid\",\"size\":100000}")"
check_eq "already stored: no actions" "null" \
  "$(curl -sS -X POST "$B" "${CT[@]}" "${AW[@]}" -d "$(req upload sha256 "$s_oid" 100000)" | jq -c '.objects[0].actions')"
check_eq "download action" 200 "$(batch "${AW[@]}" -d "$(req download sha256 "$s_oid" 100000)")"
dl=$(jq -r '.objects[0].actions.download.href' "$WORK/out")
check_eq "download href serves the object without a token" "$s_oid" "$(curl -sS "$dl" | sha256sum | cut -d' ' -f1)"

# --- per-object errors and request errors ---
check_eq "invalid oid: per-object 422" 422 \
  "$(curl -sS -X POST "$B" "${CT[@]}" "${AW[@]}" -d "$(req upload sha256 nothex 5)" | jq -r '.objects[0].error.code')"
check_eq "unknown hash_algo: 409" 409 "$(batch "${AW[@]}" -d "$(req upload md5 "$s_oid" 100000)")"
check_eq "bad operation: 422" 422 "$(batch "${AW[@]}" -d "$(req delete sha256 "$s_oid" 100000)")"

# --- multipart (threshold 1 MiB, parts of 400000 bytes) ---
head -c 1500000 /dev/urandom >"$WORK/big"
b_oid=$(sha256sum "$WORK/big" | cut -d' ' -f1)
check_eq "multipart batch" 200 "$(batch "${AW[@]}" -d "$(req upload sha_256 "$b_oid" 1500000)")"
check_eq "multipart transfer" multipart "$(jq -r .transfer "$WORK/out")"
check_eq "chunk_size and ceil(size/chunk) numeric part keys" "400000 00001,00002,00003,00004" \
  "$(jq -r '.objects[0].actions.upload.header | "\(.chunk_size) \([keys[] | select(test("^[0-9]+$"))] | join(","))"' "$WORK/out")"
complete=$(jq -r '.objects[0].actions.upload.href' "$WORK/out")
parts=""
for n in 1 2 3 4; do
  url=$(jq -r --arg k "$(printf '%05d' $n)" '.objects[0].actions.upload.header[$k]' "$WORK/out")
  etag=$(dd if="$WORK/big" bs=400000 skip=$((n - 1)) count=1 status=none |
    curl -sS -D - -o /dev/null -X PUT --data-binary @- "$url" | hdr etag)
  parts="$parts{\"partNumber\":$n,\"etag\":$(jq -Rn --arg e "$etag" '$e')},"
done
check_match "parts answer an ETag" '^".+"$' "$etag"
check_eq "part PUT to a tampered URL: 403" 403 "$(status PUT "${url/X-Signature=/X-Signature=2}" --data-binary @"$WORK/small")"
check_eq "completion with a wrong ETag: 400" 400 \
  "$(status POST "$complete" "${CT[@]}" -d "{\"oid\":\"$b_oid\",\"parts\":[${parts%,*},{\"partNumber\":4,\"etag\":\"\\\"x\\\"\"}]}")"
check_eq "completion without a part: 400" 400 \
  "$(status POST "$complete" "${CT[@]}" -d "{\"oid\":\"$b_oid\",\"parts\":[{\"partNumber\":1,\"etag\":\"x\"}]}")"
check_eq "completion (no Authorization)" 200 "$(status POST "$complete" "${CT[@]}" -d "{\"oid\":\"$b_oid\",\"parts\":[${parts%,}]}")"
check_eq "multipart object stored intact" "$b_oid" \
  "$(batch "${AW[@]}" -d "$(req download sha256 "$b_oid" 1500000)" >/dev/null;
     curl -sS "$(jq -r '.objects[0].actions.download.href' "$WORK/out")" | sha256sum | cut -d' ' -f1)"
check_eq "basic only when the client does not offer multipart" basic \
  "$(curl -sS -X POST "$B" "${CT[@]}" "${AW[@]}" -d "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$(printf y | sha256sum | cut -d' ' -f1)\",\"size\":2000000}]}" | jq -r .transfer)"
curl -sS -o /dev/null -X POST "$HUB/api/repos/create" "${AW[@]}" -H 'Content-Type: application/json' -d '{"name":"pub"}'
check_eq "model repo batch URL (no prefix), public repo read anonymously" 200 \
  "$(status POST "$HUB/alice/pub.git/info/lfs/objects/batch" "${CT[@]}" -d "$(req download sha256 "$s_oid" 100000)")"
check_eq "space repo batch URL" 200 \
  "$(status POST "$HUB/spaces/alice/chat.git/info/lfs/objects/batch" "${CT[@]}" "${AW[@]}" -d "$(req upload sha256 "$s_oid" 100000)")"
finish
