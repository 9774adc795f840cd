#!/usr/bin/env bash
# The libgit2 mirror (hubmirror) at the real Hub's edges: a git 401 without a challenge (the token
# goes along at once, to the Hub only), TLS verified against the emulator's CA from the
# environment (refused without it), and http_proxy/no_proxy honoured as libcurl does. Run plain
# and, under the realworld label, with HUB_TLS=1 and latency.
. "$SPACEFS_SOURCE_DIR/tests/lib/hub.sh"
TOOL="$SPACEFS_BUILD_DIR/tests/persist/persist_mirror_tool"
[ -x "$TOOL" ] || { echo "SKIP: $TOOL not built"; echo "0 passed, 0 failed"; exit 77; }
hub_start
export HF_ENDPOINT=$HUB
TOKEN=hf_alice_write
printf '%s' "$TOKEN" >"$WORK/token"; chmod 600 "$WORK/token"
export MIRROR_TOKEN_FILE="$WORK/token"
OUT="$WORK/all-output"
mt() { local d=$1; shift; "$TOOL" "$WORK/$d" alice/chat-persist "$@" 2>>"$OUT.err" | tee -a "$OUT"; }

# --- a 401 without WWW-Authenticate ---
hub_network '{"git_challenge": false}'
check_eq "the emulator's git 401 has no challenge" "" \
  "$(curl -sS -D - -o /dev/null "$HUB/datasets/alice/chat-persist.git/info/refs?service=git-upload-pack" |
     grep -i '^www-authenticate' | tr -d '\r')"
hub_stats_reset
check_match "fetch of a private Dataset with a token: works" '^[0-9a-f]{40}$' "$(mt m1 fetch)"
# one anonymous info/refs (the mirror's redirect check: 401), then the fetch's own, with the token
check_eq "  info/refs: the anonymous check's 401, then 200 with the token at once" "1 1" \
  "$(hub_stats | jq -r '.routes["GET /datasets/{ns}/{name}/info/refs"].statuses | "\(.["401"] // 0) \(.["200"] // 0)"')"
check_eq "  upload-pack answered 200" 200 \
  "$(hub_stats | jq -r '.routes["POST /datasets/{ns}/{name}/git-upload-pack"].statuses | keys | join(",")')"
check_match "a second, incremental fetch too" '^[0-9a-f]{40}$' "$(mt m1 fetch)"
hub_stats_reset
check_match "two fetches by one mirror (a mount's refreshes)" '^[0-9a-f]{40}$' "$(mt m1 fetch2)"
check_eq "  the redirect check is made once, not per fetch (it is kept 10 minutes)" "1 2" \
  "$(hub_stats | jq -r '.routes["GET /datasets/{ns}/{name}/info/refs"].statuses | "\(.["401"] // 0) \(.["200"] // 0)"')"
err=$(MIRROR_TOKEN_FILE= "$TOOL" "$WORK/anon" alice/chat-persist fetch 2>&1 >/dev/null); rc=$?
check_eq "anonymous: still an auth error" "2 yes" "$rc $(echo "$err" | grep -qi 'auth' && echo yes)"
hub_network '{"git_challenge": true}'

# --- trust ---
if [ "${HUB_TLS:-0}" = 1 ]; then
  err=$(env -u SSL_CERT_FILE -u CURL_CA_BUNDLE -u REQUESTS_CA_BUNDLE -u SSL_CERT_DIR \
    "$TOOL" "$WORK/notrust" alice/chat-persist fetch 2>&1 >/dev/null); rc=$?
  check_eq "TLS without the CA: refused" 2 "$rc"
  check_match "  as a certificate problem" 'certificate|SSL|ssl' "$err"
  check_match "with SSL_CERT_FILE=<the CA>: works" '^[0-9a-f]{40}$' "$(mt trust fetch)"
  check_match "with REQUESTS_CA_BUNDLE=<the CA> only: works" '^[0-9a-f]{40}$' \
    "$(env -u SSL_CERT_FILE REQUESTS_CA_BUNDLE="$HUB_CA" "$TOOL" "$WORK/trust2" alice/chat-persist fetch 2>>"$OUT.err")"
else
  echo "# trust: run with HUB_TLS=1 (realworld label)"
fi

# --- proxy from the environment: a recording CONNECT/forwarding proxy ---
cat >"$WORK/proxy.py" <<'PY'
import socket, sys, threading, select
log = open(sys.argv[1], "a")
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(16)
print(srv.getsockname()[1], flush=True)
def pipe(a, b):
    try:
        while True:
            r, _, _ = select.select([a, b], [], [], 30)
            if not r: return
            for s in r:
                d = s.recv(65536)
                if not d: return
                (b if s is a else a).sendall(d)
    finally:
        a.close(); b.close()
def handle(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d: c.close(); return
        head += d
    line = head.split(b"\r\n", 1)[0].decode()
    method, target = line.split(" ")[:2]
    log.write(method + " " + target.split("?")[0] + "\n"); log.flush()
    if method == "CONNECT":
        host, port = target.rsplit(":", 1)
        u = socket.create_connection((host, int(port)))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pipe(c, u)
    else:  # absolute-form request: forward it as is over a fresh connection
        hostport = target.split("/")[2]
        host, port = hostport.rsplit(":", 1)
        u = socket.create_connection((host, int(port)))
        u.sendall(head)
        pipe(c, u)
while True:
    c, _ = srv.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
coproc PROXY { exec python3 "$WORK/proxy.py" "$WORK/proxy.log"; }
at_exit "kill $PROXY_PID 2>/dev/null"
read -r pport <&"${PROXY[0]}"
touch "$WORK/proxy.log"
scheme=${HUB%%://*}
check_match "through ${scheme}_proxy: works" '^[0-9a-f]{40}$' \
  "$(env http_proxy="http://127.0.0.1:$pport" https_proxy="http://127.0.0.1:$pport" no_proxy= \
     "$TOOL" "$WORK/px" alice/chat-persist fetch 2>>"$OUT.err")"
check_eq "  the proxy carried the mirror's requests" yes "$([ -s "$WORK/proxy.log" ] && echo yes)"
n=$(wc -l <"$WORK/proxy.log")
check_match "no_proxy covering the host: works" '^[0-9a-f]{40}$' \
  "$(env http_proxy="http://127.0.0.1:$pport" https_proxy="http://127.0.0.1:$pport" \
     no_proxy="localhost,127.0.0.1" "$TOOL" "$WORK/px2" alice/chat-persist fetch 2>>"$OUT.err")"
check_eq "  and goes direct" "$n" "$(wc -l <"$WORK/proxy.log")"

# --- months of commits: the mirror repacks instead of piling up packs (and open descriptors) ---
commit_one() {
  { jq -nc --arg s "soak $1" '{key: "header", value: {summary: $s}}'
    jq -nc --arg c "$(printf 'round %s' "$1" | base64 -w0)" \
      '{key: "file", value: {path: "rounds.txt", content: $c, encoding: "base64"}}'; } >"$WORK/c.ndjson"
  curl -sS -o /dev/null -w '%{http_code}' -X POST "$HUB/api/datasets/alice/chat-persist/commit/main" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/x-ndjson' --data-binary @"$WORK/c.ndjson"
}
ok=0
for i in $(seq 1 24); do
  [ "$(commit_one "$i")" = 200 ] && mt m1 fetch >/dev/null && ok=$((ok + 1))
done
check_eq "24 commits, each fetched" 24 "$ok"
packs=$(find "$WORK/m1/objects/pack" -name '*.pack' | wc -l)
check_eq "packs stay bounded: $packs <= 17" yes "$([ "$packs" -le 17 ] && echo yes)"
check_match "the head is still read" '^[0-9a-f]{40}$' "$(mt m1 head)"
check_eq "the whole history is still there (commits reachable)" yes \
  "$([ "$(mt m1 commits 100 | wc -l)" -ge 25 ] && echo yes)"
check_eq "the last round's blob reads back" "round 24" \
  "$(mt m1 blob "$(mt m1 tree | awk '$NF == "rounds.txt" {print $4}' | head -1)")"

check_eq "token never in any output" 0 "$(cat "$OUT" "$OUT.err" "$WORK/proxy.log" | grep -c "$TOKEN")"
finish
