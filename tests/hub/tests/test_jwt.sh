#!/bin/bash
# Space JWTs: GET /api/spaces/{ns}/{name}/jwt (401 anonymous / 404 invisible, like the other
# private Space routes) and the app URL of a private Space, which accepts a valid, unexpired
# ?__sign=<jwt> for that very Space and answers anyone else the anonymous visitor's 404.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")
BW=(-H "Authorization: Bearer hf_bob_write")

# --- the route ---
check_eq "jwt anonymous on a private Space: 401" 401 "$(status GET "$HUB/api/spaces/alice/notes/jwt")"
check_eq "jwt for a non-member: 404" 404 "$(status GET "$HUB/api/spaces/alice/notes/jwt" "${BW[@]}")"
check_eq "jwt of a missing Space: 404" 404 "$(status GET "$HUB/api/spaces/alice/nope/jwt" "${AW[@]}")"
J=$(curl -sS "${AW[@]}" "$HUB/api/spaces/alice/notes/jwt")
T=$(jq -r .token <<<"$J")
check_match "jwt: three base64url parts" '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' "$T"
P=$(cut -d. -f2 <<<"$T" | tr '_-' '/+' | awk '{ n = length($0) % 4; if (n) $0 = $0 substr("===", 1, 4 - n); print }' | base64 -d)
check_eq "jwt payload sub" "/spaces/alice/notes" "$(jq -r .sub <<<"$P")"
check "jwt expires a few minutes ahead" "$(jq '(.exp - .iat) > 0 and (.exp - .iat) <= 600' <<<"$P")" = true
check_eq "jwt header alg" HS256 "$(cut -d. -f1 <<<"$T" | tr '_-' '/+' | awk '{ n = length($0) % 4; if (n) $0 = $0 substr("===", 1, 4 - n); print }' | base64 -d | jq -r .alg)"

# --- the app of a private Space (alice/notes is paused: the app answers 503 once allowed in) ---
APP="$HUB/-/apps/alice-notes/"
check_eq "app: anonymous 404" 404 "$(status GET "$APP")"
check_eq "app: with a valid __sign past the 404" 503 "$(status GET "$APP?__sign=$T")"
check_eq "app: __sign in a longer query" 503 "$(status GET "$APP?x=1&__sign=$T")"
TB=$(curl -sS "${BW[@]}" "$HUB/api/spaces/bob/secret-app/jwt" | jq -r .token)
check_eq "app: a JWT of another Space is refused (404)" 404 "$(status GET "$APP?__sign=$TB")"
BAD="${T%.*}.$(cut -d. -f3 <<<"$T" | tr 'A-Za-z' 'B-ZAb-za')"
check_eq "app: a bad signature is refused (404)" 404 "$(status GET "$APP?__sign=$BAD")"
check_eq "app: garbage is refused (404)" 404 "$(status GET "$APP?__sign=not-a-jwt")"
hub_advance 400
check_eq "app: an expired JWT is refused (404)" 404 "$(status GET "$APP?__sign=$T")"
hub_stats_reset
T2=$(curl -sS "${AW[@]}" "$HUB/api/spaces/alice/notes/jwt" | jq -r .token)
check_eq "app: a fresh JWT after the clock moved works" 503 "$(status GET "$APP?__sign=$T2")"
check_eq "jwt route counted by the stats" 1 "$(hub_count 'GET /api/spaces/{ns}/{name}/jwt')"
finish
