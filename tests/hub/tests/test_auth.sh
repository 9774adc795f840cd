#!/bin/bash
# Accounts and permissions: whoami-v2, bad/missing tokens, read vs write role, own namespace vs
# org vs foreign namespace, private Spaces hidden as the Hub hides them, no token in any output.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")
AR=(-H "Authorization: Bearer hf_alice_read")
BW=(-H "Authorization: Bearer hf_bob_write")
BAD=(-H "Authorization: Bearer hf_not_a_token")

W=$(curl -sS "${AW[@]}" "$HUB/api/whoami-v2")
check_eq "whoami name" alice "$(jq -r .name <<<"$W")"
check_eq "whoami type" user "$(jq -r .type <<<"$W")"
check_eq "whoami role write" write "$(jq -r .auth.accessToken.role <<<"$W")"
check_eq "whoami auth type" access_token "$(jq -r .auth.type <<<"$W")"
check_eq "whoami org" "org acme" "$(jq -r '.orgs[0] | "\(.type) \(.name)"' <<<"$W")"
check_match "whoami id is 24 hex" '^[0-9a-f]{24}$' "$(jq -r .id <<<"$W")"
check_eq "whoami has all fields" true "$(jq 'has("fullname") and has("email") and has("emailVerified") and has("isPro") and has("canPay") and has("avatarUrl") and has("periodEnd") and has("billingMode") and (.auth.accessToken | has("displayName") and has("createdAt"))' <<<"$W")"
check_eq "whoami id stable" "$(jq -r .id <<<"$W")" "$(curl -sS "${AR[@]}" "$HUB/api/whoami-v2" | jq -r .id)"
check_eq "whoami read role" read "$(curl -sS "${AR[@]}" "$HUB/api/whoami-v2" | jq -r .auth.accessToken.role)"
check_eq "whoami no token 401" 401 "$(status GET "$HUB/api/whoami-v2")"
H=$(curl -sS -D - -o "$WORK/body" "${BAD[@]}" "$HUB/api/whoami-v2")
check_match "whoami bad token 401" '^HTTP/1.1 401' "$H"
check_match "bad token X-Error-Message" 'X-Error-Message: Invalid credentials in Authorization header' "$H"
check_eq "bad token JSON error" "Invalid credentials in Authorization header" "$(jq -r .error "$WORK/body")"

# private Spaces: 401 anonymous, 404 for a non-member, 200 for the owner; RepoNotFound both ways
H=$(curl -sS -D - -o /dev/null "$HUB/api/spaces/alice/notes")
check_match "private anon 401" '^HTTP/1.1 401' "$H"
check_match "private anon RepoNotFound" 'X-Error-Code: RepoNotFound' "$H"
H=$(curl -sS -D - -o /dev/null "${BW[@]}" "$HUB/api/spaces/alice/notes")
check_match "private other user 404" '^HTTP/1.1 404' "$H"
check_match "private other user RepoNotFound" 'X-Error-Code: RepoNotFound' "$H"
check_eq "missing space looks the same" 404 "$(status GET "$HUB/api/spaces/alice/nope" "${BW[@]}")"
check_eq "private owner 200" 200 "$(status GET "$HUB/api/spaces/alice/notes" "${AR[@]}")"
check_eq "private runtime hidden" 404 "$(status GET "$HUB/api/spaces/bob/secret-app/runtime" "${AW[@]}")"
check_eq "bad token on public space 401" 401 "$(status GET "$HUB/api/spaces/alice/chat" "${BAD[@]}")"
check_eq "anon list hides private" "acme/dashboard alice/chat gradio/hello-world" \
  "$(curl -sS "$HUB/api/spaces" | jq -r '[.[].id] | join(" ")')"
check_eq "alice list sees her private" "acme/dashboard alice/chat alice/notes gradio/hello-world" \
  "$(curl -sS "${AR[@]}" "$HUB/api/spaces" | jq -r '[.[].id] | join(" ")')"
check_eq "bob list" "acme/dashboard alice/chat bob/secret-app gradio/hello-world" \
  "$(curl -sS "${BW[@]}" "$HUB/api/spaces" | jq -r '[.[].id] | join(" ")')"

# write permissions: read token 403, foreign namespace 403, own org 200
J=(-H 'Content-Type: application/json')
check_eq "read token cannot restart" 403 "$(status POST "$HUB/api/spaces/alice/chat/restart" "${AR[@]}")"
check_eq "read token cannot add variable" 403 "$(status POST "$HUB/api/spaces/alice/chat/variables" "${AR[@]}" "${J[@]}" -d '{"key":"A","value":"1"}')"
check_eq "foreign namespace 403" 403 "$(status POST "$HUB/api/spaces/alice/chat/pause" "${BW[@]}")"
check_eq "foreign private 404 not 403" 404 "$(status POST "$HUB/api/spaces/alice/notes/pause" "${BW[@]}")"
check_eq "no token lifecycle 401" 401 "$(status POST "$HUB/api/spaces/alice/chat/restart")"
check_eq "bad token lifecycle 401" 401 "$(status POST "$HUB/api/spaces/alice/chat/restart" "${BAD[@]}")"
check_eq "org member writes org space" 200 "$(status POST "$HUB/api/spaces/acme/dashboard/variables" "${AW[@]}" "${J[@]}" -d '{"key":"ORG","value":"1"}')"
check_eq "non-member cannot write org space" 403 "$(status POST "$HUB/api/spaces/acme/dashboard/variables" "${BW[@]}" "${J[@]}" -d '{"key":"ORG","value":"1"}')"
check_eq "own namespace write" 200 "$(status POST "$HUB/api/spaces/bob/secret-app/variables" "${BW[@]}" "${J[@]}" -d '{"key":"B","value":"2"}')"

# neither tokens nor the fixture's secret value ever reach hubd's output
hub_stop
check "no token or secret in hubd output" bash -c "! grep -q -e hf_alice -e hf_bob -e sk-test '$WORK/hubd.out' '$WORK/hubd.err'"
finish
