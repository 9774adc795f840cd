#!/usr/bin/env bash
# Repository routes with curl: create (types, visibility, sdk, 400/401/402/403/409), delete,
# settings, refs, commit history (pagination, formatted), dataset/model info and listings.
. "$(dirname "$0")/../../lib/hub.sh"

# The demo fixture plus carol, whose gradio/docker Spaces need a paid plan (paymentRequired).
jq '.users += [{"name": "carol", "paymentRequired": true,
                "tokens": [{"value": "hf_carol_write", "role": "write"}]}]' \
  "$TESTS_ROOT/hub/fixtures/demo.json" >"$WORK/fixture.json"
hub_start --fixture "$WORK/fixture.json"
AW=(-H "Authorization: Bearer hf_alice_write")
AR=(-H "Authorization: Bearer hf_alice_read")
BW=(-H "Authorization: Bearer hf_bob_write")
CW=(-H "Authorization: Bearer hf_carol_write")
JSON=(-H "Content-Type: application/json")
create() { curl -sS -o "$WORK/out" -w '%{http_code}' -X POST "$HUB/api/repos/create" "${JSON[@]}" "$@"; }

# --- create ---
check_eq "create model (organization null)" 200 \
  "$(create "${AW[@]}" -d '{"name":"m1","organization":null,"type":"model","private":false}')"
check_eq "create reply url/name" "$HUB/alice/m1 alice/m1" "$(jq -r '"\(.url) \(.name)"' "$WORK/out")"
check_match "create reply id is 24 hex" '^[0-9a-f]{24}$' "$(jq -r .id "$WORK/out")"
check_eq "create dataset in org, visibility private" 200 \
  "$(create "${AW[@]}" -d '{"name":"d1","organization":"acme","type":"dataset","visibility":"private"}')"
check_eq "org dataset url" "$HUB/datasets/acme/d1" "$(jq -r .url "$WORK/out")"
check_eq "private dataset hidden from bob" 404 "$(status GET "$HUB/api/datasets/acme/d1" "${BW[@]}")"
check_eq "private dataset anonymous: 401" 401 "$(status GET "$HUB/api/datasets/acme/d1")"
check_eq "create space with sdk" 200 \
  "$(create "${AW[@]}" -d '{"name":"s1","organization":null,"type":"space","sdk":"docker","private":true}')"
check_eq "new space url" "$HUB/spaces/alice/s1" "$(jq -r .url "$WORK/out")"
check_eq "new space has default .gitattributes" ".gitattributes" \
  "$(curl -sS "${AW[@]}" "$HUB/api/spaces/alice/s1/tree/main" | jq -r '.[].path')"
check_eq "space without sdk: 400" 400 "$(create "${AW[@]}" -d '{"name":"s2","type":"space"}')"
check_eq "space with bad sdk: 400" 400 "$(create "${AW[@]}" -d '{"name":"s2","type":"space","sdk":"php"}')"
check_eq "exists: 409" 409 "$(create "${AW[@]}" -d '{"name":"m1","type":"model"}')"
check_eq "409 body has the Hub's error and url" "You already created this model repo $HUB/alice/m1" \
  "$(jq -r '"\(.error) \(.url)"' "$WORK/out")"
check_eq "other namespace: 403" 403 "$(create "${BW[@]}" -d '{"name":"x","organization":"alice"}')"
check_eq "read token: 403" 403 "$(create "${AR[@]}" -d '{"name":"x"}')"
check_eq "no token: 401" 401 "$(create -d '{"name":"x"}')"
check_eq "bad token: 401" 401 "$(create -H 'Authorization: Bearer hf_nope' -d '{"name":"x"}')"
check_eq "bad name (--): 400" 400 "$(create "${AW[@]}" -d '{"name":"a--b"}')"
check_eq "gradio space, user cannot pay: 402" 402 \
  "$(create "${CW[@]}" -d '{"name":"g","type":"space","sdk":"gradio"}')"
check_match "402 message" "requires a PRO subscription" "$(jq -r .error "$WORK/out")"
check_eq "static space, user cannot pay: 200" 200 \
  "$(create "${CW[@]}" -d '{"name":"st","type":"space","sdk":"static"}')"

# --- settings ---
check_eq "settings: make m1 private" 200 \
  "$(status PUT "$HUB/api/models/alice/m1/settings" "${AW[@]}" "${JSON[@]}" -d '{"private":true}')"
check_eq "m1 now hidden from anonymous" 401 "$(status GET "$HUB/api/models/alice/m1")"
check_eq "settings: visibility public + gated auto" 200 \
  "$(status PUT "$HUB/api/models/alice/m1/settings" "${AW[@]}" "${JSON[@]}" \
     -d '{"visibility":"public","gated":"auto"}')"
check_eq "m1 public and gated" "false auto" \
  "$(curl -sS "$HUB/api/models/alice/m1" | jq -r '"\(.private) \(.gated)"')"
check_eq "settings: bad gated: 400" 400 \
  "$(status PUT "$HUB/api/models/alice/m1/settings" "${AW[@]}" "${JSON[@]}" -d '{"gated":"yes"}')"
check_eq "settings by bob: 403" 403 \
  "$(status PUT "$HUB/api/models/alice/m1/settings" "${BW[@]}" "${JSON[@]}" -d '{"private":true}')"

# --- commits history and refs: three more commits on the model ---
for i in 1 2 3; do
  body=$(printf '{"key":"header","value":{"summary":"commit %d","description":"line <%d>"}}\n{"key":"file","value":{"path":"f%d.txt","content":"%s","encoding":"base64"}}\n' \
    "$i" "$i" "$i" "$(printf 'v%d' "$i" | base64)")
  curl -sS -o /dev/null -X POST "$HUB/api/models/alice/m1/commit/main" "${AW[@]}" \
    -H 'Content-Type: application/x-ndjson' --data-binary "$body"
done
curl -sS -D "$WORK/h" -o "$WORK/p1" "$HUB/api/models/alice/m1/commits/main?limit=2&expand%5B%5D=formatted"
check_eq "commits page 1 size" 2 "$(jq length "$WORK/p1")"
check_eq "commits newest first" "commit 3" "$(jq -r '.[0].title' "$WORK/p1")"
check_eq "commit message is the description" "line <3>" "$(jq -r '.[0].message' "$WORK/p1")"
check_eq "commit author" alice "$(jq -r '.[0].authors[0].user' "$WORK/p1")"
check_eq "formatted with expand[]" "<p>line &lt;3&gt;</p>" "$(jq -r '.[0].formatted.message' "$WORK/p1")"
check_eq "X-Total-Count" 4 "$(grep -i '^x-total-count:' "$WORK/h" | tr -d '\r' | awk '{print $2}')"
next=$(grep -i '^link:' "$WORK/h" | sed -E 's/^[Ll]ink: <([^>]*)>; rel="next".*/\1/' | tr -d '\r')
check_match "Link next is absolute with cursor" "^$HUB/api/models/alice/m1/commits/main\?.*cursor=" "$next"
curl -sS -D "$WORK/h2" -o "$WORK/p2" "$next"
check_eq "commits page 2" "commit 1|initial commit" "$(jq -r '[.[].title] | join("|")' "$WORK/p2")"
check_eq "page 2 is the last (no Link)" "" "$(grep -i '^link:' "$WORK/h2")"
check_eq "formatted with expand=formatted" "commit 3" \
  "$(curl -sS "$HUB/api/models/alice/m1/commits/main?expand=formatted" | jq -r '.[0].formatted.title')"
check_eq "no formatted without expand" null \
  "$(curl -sS "$HUB/api/models/alice/m1/commits/main" | jq -r '.[0].formatted')"
check_eq "commits of an unknown revision: RevisionNotFound" "404 RevisionNotFound" \
  "$(curl -sS -o /dev/null -D - "$HUB/api/models/alice/m1/commits/nope" |
     awk 'NR==1{s=$2} tolower($1)=="x-error-code:"{c=$2} END{print s" "c}' | tr -d '\r')"
sha=$(curl -sS "$HUB/api/models/alice/m1" | jq -r .sha)
check_eq "refs: main branch at info sha" "main refs/heads/main $sha" \
  "$(curl -sS "$HUB/api/models/alice/m1/refs" | jq -r '.branches[0] | "\(.name) \(.ref) \(.targetCommit)"')"
check_eq "refs: pullRequests only with include_prs" "null []" \
  "$(curl -sS "$HUB/api/models/alice/m1/refs" | jq -c .pullRequests) $(curl -sS "$HUB/api/models/alice/m1/refs?include_prs=1" | jq -c .pullRequests)"
check_eq "refs of a private repo, anonymous: 401" 401 "$(status GET "$HUB/api/datasets/acme/d1/refs")"

# --- dataset info with siblings and blobs ---
info=$(curl -sS "${AW[@]}" "$HUB/api/datasets/alice/chat-persist?blobs=true")
check_eq "dataset info id/private" "alice/chat-persist true" "$(jq -r '"\(.id) \(.private)"' <<<"$info")"
check_eq "dataset siblings" ".gitattributes db/data.sqlite notes.txt" \
  "$(jq -r '[.siblings[].rfilename] | join(" ")' <<<"$info")"
check_eq "sibling size and blobId with blobs=true" "5 $(printf hello | git hash-object --stdin)" \
  "$(jq -r '.siblings[] | select(.rfilename=="notes.txt") | "\(.size) \(.blobId)"' <<<"$info")"
check_eq "info at a revision" "$(jq -r .sha <<<"$info")" \
  "$(curl -sS "${AW[@]}" "$HUB/api/datasets/alice/chat-persist/revision/main" | jq -r .sha)"
check_eq "expand returns only asked keys" '["_id","id","sha"]' \
  "$(curl -sS "$HUB/api/models/alice/m1?expand=sha" | jq -c 'keys')"
check_eq "bad expand: 400" 400 "$(status GET "$HUB/api/models/alice/m1?expand=bogus")"
check_eq "model info missing: 404 RepoNotFound" 404 "$(status GET "$HUB/api/models/alice/nope" "${AW[@]}")"

# --- listings by author ---
check_eq "datasets by alice (anonymous sees none: private)" 0 \
  "$(curl -sS "$HUB/api/datasets?author=alice" | jq length)"
check_eq "datasets by alice (alice)" "alice/chat-persist" \
  "$(curl -sS "${AW[@]}" "$HUB/api/datasets?author=alice" | jq -r '.[].id')"
check_eq "models by alice" "alice/m1" "$(curl -sS "$HUB/api/models?author=alice" | jq -r '.[].id')"

# --- delete ---
check_eq "delete by bob: 403" 403 \
  "$(status DELETE "$HUB/api/repos/delete" "${BW[@]}" "${JSON[@]}" -d '{"name":"m1","organization":"alice","type":"model"}')"
check_eq "delete without token: 401" 401 \
  "$(status DELETE "$HUB/api/repos/delete" "${JSON[@]}" -d '{"name":"m1","organization":"alice","type":"model"}')"
check_eq "delete model" "200 OK" \
  "$(curl -sS -w ' %{http_code}' -X DELETE "$HUB/api/repos/delete" "${AW[@]}" "${JSON[@]}" \
     -d '{"name":"m1","organization":"alice","type":"model"}' | awk '{print $2" "$1}')"
check_eq "deleted model: 404" 404 "$(status GET "$HUB/api/models/alice/m1" "${AW[@]}")"
check_eq "delete again: 404" 404 \
  "$(status DELETE "$HUB/api/repos/delete" "${AW[@]}" "${JSON[@]}" -d '{"name":"m1","type":"model"}')"
check_eq "recreate after delete" 200 "$(create "${AW[@]}" -d '{"name":"m1"}')"
finish
