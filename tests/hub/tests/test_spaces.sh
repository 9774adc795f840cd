#!/bin/bash
# Spaces API read side and settings: list (author, search, sort, expand forms, full, bad expand,
# pagination by Link), info and /revision, host, by-subdomain, hardware list, secrets, variables.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")
AR=(-H "Authorization: Bearer hf_alice_read")
J=(-H 'Content-Type: application/json')

# --- list ---
L=$(curl -sS "$HUB/api/spaces?author=alice")
check_eq "list author (anon)" "alice/chat" "$(jq -r '[.[].id]|join(" ")' <<<"$L")"
check_eq "default field set" '["_id","createdAt","id","likes","private","sdk","tags","trendingScore"]' "$(jq -c '.[0]|keys' <<<"$L")"
check_eq "search" "gradio/hello-world" "$(curl -sS "$HUB/api/spaces?search=HELLO" | jq -r '[.[].id]|join(" ")')"
check_eq "expand repeated" '["_id","id","runtime","subdomain"]' "$(curl -sS "$HUB/api/spaces?author=alice&expand=runtime&expand=subdomain" | jq -c '.[0]|keys')"
check_eq "expand[] form" '["_id","author","id","sdk"]' "$(curl -sS "$HUB/api/spaces?author=alice&expand%5B%5D=author&expand%5B%5D=sdk" | jq -c '.[0]|keys')"
check_eq "expand runtime stage" RUNNING "$(curl -sS "$HUB/api/spaces?author=alice&expand=runtime" | jq -r '.[0].runtime.stage')"
check_eq "full has cardData+siblings" "true" "$(curl -sS "$HUB/api/spaces?author=alice&full=true" | jq '.[0] | has("cardData") and has("siblings") and has("lastModified")')"
H=$(curl -sS -D - -o "$WORK/b" "$HUB/api/spaces?expand=foo")
check_match "bad expand 400" '^HTTP/1.1 400' "$H"
check_match "bad expand message shape" '^"expand" must be one of \[author, cardData, .*runtime.*\]$' "$(jq -r .error "$WORK/b")"
check_match "bad expand X-Error-Message" 'X-Error-Message: "expand" must be one of' "$H"
# sort: likes are fixture-free (all 0), so sort by createdAt both ways and compare
ASC=$(curl -sS "${AR[@]}" "$HUB/api/spaces?sort=createdAt&direction=1&expand=createdAt" | jq -r '[.[].createdAt]|join(" ")')
DESC=$(curl -sS "${AR[@]}" "$HUB/api/spaces?sort=createdAt&expand=createdAt" | jq -r '[.[].createdAt]|join(" ")')
check_eq "sort ascending is sorted" "$(tr ' ' '\n' <<<"$ASC" | sort | paste -sd' ')" "$ASC"
check_eq "sort default is descending" "$(tr ' ' '\n' <<<"$ASC" | sort -r | paste -sd' ')" "$DESC"
check_eq "bad sort 400" 400 "$(status GET "$HUB/api/spaces?sort=bogus")"

# pagination: limit=1 with alice's token gives 4 pages; follow Link headers verbatim
url="$HUB/api/spaces?limit=1&expand=sdk"
ids=(); pages=0; links_ok=1
while [ -n "$url" ]; do
  curl -sS "${AR[@]}" -D "$WORK/h" -o "$WORK/b" "$url"
  pages=$((pages + 1))
  ids+=("$(jq -r '.[].id' "$WORK/b")")
  link=$(grep -i '^link:' "$WORK/h" | tr -d '\r')
  url=$(sed -n 's/^[Ll]ink: <\(.*\)>; rel="next"$/\1/p' <<<"$link")
  if [ -n "$link" ] && ! [[ $url =~ ^http://.*cursor= && $url =~ expand=sdk && $url =~ limit=1 ]]; then links_ok=0; fi
  [ $pages -gt 10 ] && break
done
check_eq "pagination pages" 4 "$pages"
check_eq "pagination covers all, no repeats" "acme/dashboard alice/chat alice/notes gradio/hello-world" "${ids[*]}"
check_eq "Link absolute and self-contained" 1 "$links_ok"

# --- info ---
I=$(curl -sS "$HUB/api/spaces/alice/chat")
check_eq "info fields" true "$(jq 'has("_id") and has("sha") and has("lastModified") and has("createdAt") and has("private") and has("gated") and has("disabled") and has("likes") and has("tags")' <<<"$I")"
check_eq "info subdomain" alice-chat "$(jq -r .subdomain <<<"$I")"
check_eq "info host" "$HUB/-/apps/alice-chat" "$(jq -r .host <<<"$I")"
check_eq "info cardData from README" "Chat 7860 docker" "$(jq -r '.cardData|"\(.title) \(.app_port) \(.sdk)"' <<<"$I")"
check_eq "info siblings" ".gitattributes Dockerfile README.md app.py" "$(jq -r '[.siblings[].rfilename]|join(" ")' <<<"$I")"
check_eq "info runtime" "RUNNING cpu-basic 172800" "$(jq -r '.runtime|"\(.stage) \(.hardware.current) \(.gcTimeout)"' <<<"$I")"
check_eq "host domain reachable" 200 "$(status GET "http://$(jq -r '.runtime.domains[0].domain' <<<"$I")/")"
check_eq "host URL reachable" 200 "$(status GET "$(jq -r .host <<<"$I")/")"
SHA=$(jq -r .sha <<<"$I")
check_eq "revision by sha" "$SHA" "$(curl -sS "$HUB/api/spaces/alice/chat/revision/$SHA" | jq -r .sha)"
check_eq "revision HEAD" "$SHA" "$(curl -sS "$HUB/api/spaces/alice/chat/revision/HEAD?expand=sha" | jq -r .sha)"
check_eq "revision expand only" '["_id","id","xetEnabled"]' "$(curl -sS "$HUB/api/spaces/alice/chat/revision/main?expand=xetEnabled" | jq -c 'keys')"
H=$(curl -sS -D - -o /dev/null "$HUB/api/spaces/alice/chat/revision/nope")
check_match "bad revision 404 RevisionNotFound" 'X-Error-Code: RevisionNotFound' "$H"
check_eq "info bad expand 400" 400 "$(status GET "$HUB/api/spaces/alice/chat?expand=nope")"
check_eq "blobs sizes" true "$(curl -sS "$HUB/api/spaces/alice/chat?blobs=true" | jq '[.siblings[] | has("size") and has("blobId")] | all')"
check_eq "static runtime" '{"stage":"RUNNING","hardware":{"current":null,"requested":null},"storage":null,"replicas":{"requested":1,"current":1}}' "$(curl -sS "$HUB/api/spaces/acme/dashboard/runtime" | jq -c .)"
check_eq "host route" "alice-chat $HUB/-/apps/alice-chat" "$(curl -sS "$HUB/api/spaces/alice/chat/host" | jq -r '"\(.subdomain) \(.host)"')"
check_eq "by-subdomain" "alice/chat RUNNING" "$(curl -sS "$HUB/api/spaces/by-subdomain/alice-chat" | jq -r '"\(.id) \(.runtime.stage)"')"
check_eq "by-subdomain private hidden" 404 "$(status GET "$HUB/api/spaces/by-subdomain/alice-notes")"
HW=$(curl -sS "$HUB/api/spaces/hardware")
check_eq "hardware list" "cpu-basic t4-small" "$(jq -r '[.[] | select(.name=="cpu-basic" or .name=="t4-small") | .name] | join(" ")' <<<"$HW")"
check_eq "hardware fields" true "$(jq '[.[] | has("prettyName") and has("cpu") and has("ram") and has("unitCostMicroUSD") and has("unitCostUSD") and has("unitLabel")] | all' <<<"$HW")"

# --- secrets: names only, values never readable ---
S=$(curl -sS "${AW[@]}" "$HUB/api/spaces/alice/chat/secrets")
check_eq "secrets GET names" '["OPENAI_API_KEY"]' "$(jq -c keys <<<"$S")"
check "secrets GET has no value" bash -c "! grep -q sk-test <<<'$S'"
check_eq "secret POST" '{}' "$(curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"key":"DB_PASS","value":"s3cr3t-value","description":"db"}' "$HUB/api/spaces/alice/chat/secrets" | jq -c .)"
S=$(curl -sS "${AW[@]}" "$HUB/api/spaces/alice/chat/secrets")
check_eq "secret listed with description" "db true" "$(jq -r '.DB_PASS | "\(.description) \(has("updatedAt"))"' <<<"$S")"
check "no secret value anywhere" bash -c "! grep -q s3cr3t <<<'$S'"
check_eq "secret DELETE" '{}' "$(curl -sS "${AW[@]}" "${J[@]}" -X DELETE -d '{"key":"DB_PASS"}' "$HUB/api/spaces/alice/chat/secrets" | jq -c .)"
check_eq "secret DELETE missing is 200" 200 "$(status DELETE "$HUB/api/spaces/alice/chat/secrets" "${AW[@]}" "${J[@]}" -d '{"key":"NOPE"}')"
check_eq "secret gone" '["OPENAI_API_KEY"]' "$(curl -sS "${AW[@]}" "$HUB/api/spaces/alice/chat/secrets" | jq -c keys)"
check_eq "secret bad key 400" 400 "$(status POST "$HUB/api/spaces/alice/chat/secrets" "${AW[@]}" "${J[@]}" -d '{"key":"no spaces","value":"x"}')"
check_eq "secrets read token 403" 403 "$(status POST "$HUB/api/spaces/alice/chat/secrets" "${AR[@]}" "${J[@]}" -d '{"key":"A","value":"x"}')"
check_eq "secrets GET anon 401" 401 "$(status GET "$HUB/api/spaces/alice/chat/secrets")"

# --- variables: the whole map back each time ---
check_eq "variables GET" '{"MODEL":"gpt2"}' "$(curl -sS "${AR[@]}" "$HUB/api/spaces/alice/chat/variables" | jq -c 'map_values(.value)')"
V=$(curl -sS "${AW[@]}" "${J[@]}" -X POST -d '{"key":"TEMP","value":"0.7","description":"sampling"}' "$HUB/api/spaces/alice/chat/variables")
check_eq "variables POST returns map" '{"MODEL":"gpt2","TEMP":"0.7"}' "$(jq -c 'map_values(.value)' <<<"$V")"
check_eq "variable updatedAt ISO" true "$(jq '.TEMP.updatedAt | test("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$")' <<<"$V")"
check_eq "variables DELETE returns map" '{"TEMP":"0.7"}' "$(curl -sS "${AW[@]}" "${J[@]}" -X DELETE -d '{"key":"MODEL"}' "$HUB/api/spaces/alice/chat/variables" | jq -c 'map_values(.value)')"
check_eq "variables DELETE missing 200" 200 "$(status DELETE "$HUB/api/spaces/alice/chat/variables" "${AW[@]}" "${J[@]}" -d '{"key":"MODEL"}')"
check_eq "variables foreign 403" 403 "$(status GET "$HUB/api/spaces/alice/chat/variables" -H "Authorization: Bearer hf_bob_write")"
finish
