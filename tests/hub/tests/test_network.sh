#!/usr/bin/env bash
# The emulator's network (hubemu/network.py) seen with curl and git: TLS with its own CA (refused
# without it, the app subdomain's certificate made through SNI), latency with jitter, the
# bandwidth cap per connection and the link every connection shares (bandwidth_mbps), a slow
# first byte on log streams, git's 401 without a challenge, LFS multipart signalled per object
# only, and the four outages switched at run time through the admin port.
. "$(dirname "$0")/../../lib/hub.sh"
HUB_TLS=1 hub_start --lfs-multipart-threshold 1048576 --lfs-chunk-size 400000
AW=(-H "Authorization: Bearer hf_alice_write")
hdr() { grep -i "^$1:" | head -1 | sed -E 's/^[^:]*: *//' | tr -d '\r'; }
port=${HUB##*:}
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 HOME="$WORK/home"
mkdir -p "$HOME"
# git credential helper: the token comes from $HF_TOKEN, never from argv or the remote URL
printf '#!/bin/sh\n[ "$1" = get ] || exit 0\necho username=hf_user\necho "password=$HF_TOKEN"\n' >"$WORK/cred"
chmod +x "$WORK/cred"
git config --global credential.helper "$WORK/cred"
code() { curl -sS -o /dev/null -w '%{http_code}' "$@" 2>/dev/null; }

# --- TLS ---
check_match "HUB is https on a host name" '^https://localhost:[0-9]+$' "$HUB"
check_eq "the CA is a file" yes "$([ -s "$HUB_CA" ] && echo yes)"
check_eq "with the CA: 200" 200 "$(code "${AW[@]}" "$HUB/api/whoami-v2")"
check_eq "  also on 127.0.0.1 (IP SAN)" 200 "$(code --cacert "$HUB_CA" "https://127.0.0.1:$port/api/spaces")"
check_eq "without the CA: refused (curl exit 60)" 60 "$(CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
  curl -sS -o /dev/null "$HUB/api/spaces" 2>/dev/null; echo $?)"
check_eq "the app subdomain host has its own certificate" 200 "$(code "https://alice-chat.localhost:$port/")"
subj=$(openssl s_client -connect "127.0.0.1:$port" -servername alice-chat.localhost </dev/null 2>/dev/null |
  openssl x509 -noout -ext subjectAltName 2>/dev/null | tail -1 | tr -d ' ')
check_eq "  naming that host" "DNS:alice-chat.localhost" "$subj"
check_eq "git clone over TLS (GIT_SSL_CAINFO)" 0 \
  "$(git clone -q "$HUB/spaces/alice/chat" "$WORK/clone" >/dev/null 2>&1; echo $?)"

# --- latency and jitter: 10 requests on one connection, each pays one round trip ---
hub_network '{"latency_ms": 80, "jitter_ms": 20}'
t=$(curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -w '%{time_total}\n' \
  "$HUB/api/spaces" "$HUB/api/spaces" "$HUB/api/spaces" "$HUB/api/spaces" "$HUB/api/spaces" |
  tail -4 | sort -n | tr '\n' ' ')
read -r lo _ _ hi <<<"$t"
check_eq "a kept-alive request takes 60-100 ms plus service time ($lo .. $hi s)" yes \
  "$(python3 -c "import sys; lo, hi = float(sys.argv[1]), float(sys.argv[2]); print('yes' if 0.058 <= lo and hi < 0.5 else 'no')" "$lo" "$hi")"
check_eq "admin listener pays no latency" yes "$(python3 -c "import sys; print('yes' if float(sys.argv[1]) < 0.05 else 'no')" \
  "$(curl -sS -o /dev/null -w '%{time_total}' "$HUB_ADMIN/_hubd/stats")")"
hub_network '{"latency_ms": 0, "jitter_ms": 0}'

# --- bandwidth: 400 KiB at 200 KiB/s take about 2 s ---
head -c 409600 /dev/urandom >"$WORK/big"
ok=$(cd "$WORK/clone" && git config user.email a@b && git config user.name a &&
  git lfs install --local >/dev/null && git lfs track '*.lfs' >/dev/null &&
  head -c 3000 /dev/urandom >obj.lfs && cp "$WORK/big" big.dat &&
  git add .gitattributes obj.lfs big.dat && git commit -qm big &&
  HF_TOKEN=hf_alice_write git push -q origin HEAD:main 2>&1 && echo pushed)
check_eq "a 400 KiB file and an LFS object pushed" pushed "$(echo "$ok" | tail -1)"
hub_network '{"bandwidth_kib_s": 200}'
t=$(curl -sS -o "$WORK/got" -w '%{time_total}' "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/big.dat")
hub_network '{"bandwidth_kib_s": 0}'
check_eq "  read back intact" "$(sha256sum <"$WORK/big")" "$(sha256sum <"$WORK/got")"
check_eq "  at 200 KiB/s it takes 1.8-4 s ($t s)" yes \
  "$(python3 -c "import sys; t = float(sys.argv[1]); print('yes' if 1.8 <= t < 4 else 'no')" "$t")"

# --- bandwidth_mbps: one link that every connection shares, each direction ---
# 3.2768 Mbit/s = 400 KiB/s: one 400 KiB download takes about 1 s, two side by side about 2 s
# each (a per-connection cap would give each its own 1 s), and an upload is paced the same way
hub_network '{"bandwidth_mbps": 3.2768}'
t1=$(curl -sS -o "$WORK/got" -w '%{time_total}' "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/big.dat")
t2=$( (for i in 1 2; do
  curl -sS -o "$WORK/got$i" -w '%{time_total}\n' "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/big.dat" &
done; wait) | sort -n | tail -1)
head -c 409600 /dev/urandom >"$WORK/up.bin"
up_oid=$(sha256sum "$WORK/up.bin" | cut -d' ' -f1)
href=$(curl -sS -X POST "${AW[@]}" -H 'Accept: application/vnd.git-lfs+json' \
  -H 'Content-Type: application/vnd.git-lfs+json' \
  -d "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"hash_algo\":\"sha256\",\"objects\":[{\"oid\":\"$up_oid\",\"size\":409600}]}" \
  "$HUB/datasets/alice/chat-persist.git/info/lfs/objects/batch" | jq -r '.objects[0].actions.upload.href')
tu=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -X PUT -T "$WORK/up.bin" "$href")
hub_network '{"bandwidth_mbps": 0}'
check_eq "  link: read back intact" "$(sha256sum <"$WORK/big")" "$(cat "$WORK/got1" | sha256sum)"
check_eq "  link: one 400 KiB download at 400 KiB/s takes 0.9-2.5 s ($t1 s)" yes \
  "$(python3 -c "import sys; t = float(sys.argv[1]); print('yes' if 0.9 <= t < 2.5 else 'no')" "$t1")"
check_eq "  link: two side by side share it, the later ends after >= 1.8 s ($t2 s)" yes \
  "$(python3 -c "import sys; t = float(sys.argv[1]); print('yes' if 1.8 <= t < 5 else 'no')" "$t2")"
check_eq "  link: a 400 KiB upload is paced too (200 in 0.9-2.5 s: $tu)" yes \
  "$(python3 -c "import sys; c, t = sys.argv[1].split(); print('yes' if c == '200' and 0.9 <= float(t) < 2.5 else 'no')" "$tu")"

# --- a slow first byte on log streams ---
hub_network '{"log_first_byte_ms": 1500}'
t=$(curl -sS -o /dev/null -m 10 -w '%{time_starttransfer}' "${AW[@]}" "$HUB/api/spaces/alice/chat/logs/build")
hub_network '{"log_first_byte_ms": 0}'
check_eq "log stream's first byte after >= 1.5 s ($t s)" yes \
  "$(python3 -c "import sys; print('yes' if float(sys.argv[1]) >= 1.5 else 'no')" "$t")"

# --- git 401 without a challenge ---
curl -sS -o /dev/null -D "$WORK/h" "$HUB/datasets/alice/chat-persist.git/info/refs?service=git-upload-pack"
check_match "git 401 by default carries a Basic challenge" '^Basic' "$(hdr www-authenticate <"$WORK/h")"
hub_network '{"git_challenge": false}'
st=$(curl -sS -o /dev/null -w '%{http_code}' -D "$WORK/h" "$HUB/datasets/alice/chat-persist.git/info/refs?service=git-upload-pack")
check_eq "git_challenge false: still 401" 401 "$st"
check_eq "  without WWW-Authenticate" "" "$(hdr www-authenticate <"$WORK/h")"
check_eq "  with credentials it answers" 200 "$(code "${AW[@]}" "$HUB/datasets/alice/chat-persist.git/info/refs?service=git-upload-pack")"
hub_network '{"git_challenge": true}'

# --- LFS multipart per object; the batch's transfer says basic ---
hub_network '{"lfs_transfer_field": "basic"}'
oid=$(printf 'x%.0s' $(seq 1 10) | sha256sum | cut -d' ' -f1)
curl -sS -o "$WORK/out" -X POST "$HUB/datasets/alice/chat-persist.git/info/lfs/objects/batch" "${AW[@]}" \
  -H 'Accept: application/vnd.git-lfs+json' -H 'Content-Type: application/vnd.git-lfs+json' \
  -d "{\"operation\":\"upload\",\"transfers\":[\"basic\",\"multipart\"],\"hash_algo\":\"sha256\",
       \"objects\":[{\"oid\":\"$oid\",\"size\":1500000},{\"oid\":\"${oid%?}0\",\"size\":10}]}"
check_eq "transfer field basic" basic "$(jq -r .transfer "$WORK/out")"
check_eq "  the large object has chunk_size and 4 parts" "400000 4" \
  "$(jq -r '.objects[0].actions.upload.header | "\(.chunk_size) \([keys[] | select(test("^[0-9]+$"))] | length)"' "$WORK/out")"
check_eq "  the small one has no header" null "$(jq -r '.objects[1].actions.upload.header' "$WORK/out")"
hub_network '{"lfs_transfer_field": "omit"}'
curl -sS -o "$WORK/out" -X POST "$HUB/datasets/alice/chat-persist.git/info/lfs/objects/batch" "${AW[@]}" \
  -H 'Content-Type: application/vnd.git-lfs+json' \
  -d "{\"operation\":\"upload\",\"transfers\":[\"basic\",\"multipart\"],\"objects\":[{\"oid\":\"$oid\",\"size\":1500000}]}"
check_eq "transfer field omitted" false "$(jq 'has("transfer")' "$WORK/out")"
hub_network '{"lfs_transfer_field": "auto"}'
check_eq "a bad knob: 400" 400 "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$HUB_ADMIN/_hubd/network" -d '{"latency_ms": -1}')"
check_eq "a bad outage: 400" 400 "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$HUB_ADMIN/_hubd/network" -d '{"outage": "fire"}')"

# --- compression on resolve, HEAD on signed storage ---
hub_network '{"compress": true}'
curl -sS -o /dev/null -D "$WORK/h" -I "${AW[@]}" -H 'Accept-Encoding: gzip' "$HUB/spaces/alice/chat/resolve/main/README.md"
check_eq "compress: HEAD with Accept-Encoding gzip gets Content-Encoding gzip" gzip "$(hdr content-encoding <"$WORK/h")"
plain=$(curl -sS "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/README.md" | wc -c)
check_eq "  and the compressed Content-Length, not the file's ($plain)" yes \
  "$([ "$(hdr content-length <"$WORK/h")" != "$plain" ] && echo yes)"
curl -sS -o /dev/null -D "$WORK/h" -I "${AW[@]}" -H 'Accept-Encoding: identity' "$HUB/spaces/alice/chat/resolve/main/README.md"
check_eq "  identity: the file's size" "$plain" "$(hdr content-length <"$WORK/h")"
check_eq "  GET --compressed decodes to the file" "$(curl -sS "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/README.md" | sha256sum)" \
  "$(curl -sS --compressed "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/README.md" | sha256sum)"
hub_network '{"compress": false}'
lfsurl=$(curl -sS -o /dev/null -w '%{redirect_url}' "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/obj.lfs" 2>/dev/null)
if [ -n "$lfsurl" ]; then
  check_eq "signed storage URL: HEAD 200 by default" 200 "$(code -I "$lfsurl")"
  hub_network '{"storage_head_403": true}'
  check_eq "  storage_head_403: HEAD 403" 403 "$(code -I "$lfsurl")"
  check_eq "  GET still 200" 200 "$(code "$lfsurl")"
  hub_network '{"storage_head_403": false}'
  hub_network '{"storage_extra_bytes": 1000}'
  check_eq "storage_extra_bytes: 3000-byte object + 1000, Range ignored" "200 4000" \
    "$(curl -sS -o "$WORK/x" -H 'Range: bytes=0-9' -w '%{http_code}' "$lfsurl") $(stat -c %s "$WORK/x")"
  check_eq "  the object comes first" "$(sha256sum <"$WORK/clone/obj.lfs")" "$(head -c 3000 "$WORK/x" | sha256sum)"
  hub_network '{"storage_extra_bytes": 0}'
else
  fail "an LFS file to test storage HEAD with" "no redirect from resolve"
fi

# --- outages, switched at run time ---
rc() { curl -sS -o /dev/null -m 3 "$@" 2>/dev/null; echo $?; }
hub_network '{"outage": "refused"}'
check_eq "refused: connection refused (curl 7)" 7 "$(rc "$HUB/api/spaces")"
check_eq "  the admin port still answers" refused "$(curl -sS "$HUB_ADMIN/_hubd/network" | jq -r .outage)"
hub_network '{"outage": "blackhole"}'
t0=$(date +%s%N)
check_eq "blackhole: accepted, never answered (curl 28 at -m 3)" 28 "$(rc "$HUB/api/spaces")"
check_eq "  after the full 3 s" yes "$([ $(($(date +%s%N) - t0)) -ge 2900000000 ] && echo yes)"
exec 7<>"/dev/tcp/127.0.0.1/$port" && check_eq "  the TCP connect itself succeeds" ok ok
exec 7>&-
hub_network '{"outage": "503"}'
check_eq "503 storm" "503 503 503" "$(code "$HUB/api/spaces") $(code "${AW[@]}" "$HUB/api/whoami-v2") $(code "$HUB/spaces/alice/chat/resolve/main/big.dat")"
hub_network '{"outage": "reset"}'
check_eq "reset mid-body: curl 56 (connection reset)" 56 "$(rc "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/big.dat")"
curl -sS -o "$WORK/part" "${AW[@]}" "$HUB/spaces/alice/chat/resolve/main/big.dat" 2>/dev/null
check_eq "  after part of the body" yes "$(s=$(stat -c %s "$WORK/part"); [ "$s" -gt 0 ] && [ "$s" -lt 409600 ] && echo yes)"
hub_network '{"outage": "none"}'
check_eq "none: back on the same port" 200 "$(code "${AW[@]}" "$HUB/api/whoami-v2")"
check_eq "stats count the 503s" 3 "$(hub_stats | jq '[.routes[].statuses["503"] // 0] | add')"
finish
