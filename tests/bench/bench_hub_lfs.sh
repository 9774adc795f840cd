#!/usr/bin/env bash
# Throughput of hubd's LFS data path on loopback: one 256 MiB object PUT to a signed basic-transfer
# URL (hashed while it streams in) and GET through resolve's redirect. Prints MB/s (10^6 bytes/s).
# Label bench, not in the default run: ctest --test-dir build -L bench --output-on-failure
. "$(dirname "$0")/../lib/hub.sh"
MIB=${BENCH_MIB:-256}
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")
f="$WORK/blob.bin"
head -c $((MIB * 1024 * 1024)) /dev/urandom >"$f"
sync "$f"  # its writeback must not compete with the timed PUT
size=$(stat -c %s "$f")
oid=$(sha256sum "$f" | cut -d' ' -f1)
href=$(curl -sS -X POST "$HUB/datasets/alice/chat-persist.git/info/lfs/objects/batch" "${AW[@]}" \
  -H 'Content-Type: application/vnd.git-lfs+json' \
  -d "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"objects\":[{\"oid\":\"$oid\",\"size\":$size}]}" |
  jq -r '.objects[0].actions.upload.href')
check_match "batch gave a basic upload URL" "^$HUB/lfs-storage/objects/$oid" "$href"
put=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H 'Expect:' -T "$f" "$href")
check_eq "PUT ${MIB} MiB" 200 "${put% *}"
printf '{"key":"header","value":{"summary":"bench"}}\n{"key":"lfsFile","value":{"path":"bench.bin","algo":"sha256","oid":"%s","size":%d}}\n' \
  "$oid" "$size" | curl -sS -o /dev/null -X POST "${AW[@]}" --data-binary @- "$HUB/api/datasets/alice/chat-persist/commit/main"
get=$(curl -sSL -o /dev/null -w '%{http_code} %{size_download} %{time_total}' "${AW[@]}" \
  "$HUB/datasets/alice/chat-persist/resolve/main/bench.bin")
read -r code got gtime <<<"$get"
check_eq "GET ${MIB} MiB via resolve redirect" "200 $size" "$code $got"
check_eq "stored object intact" "$oid" "$(sha256sum "$(find "$HUB_STATE/lfs" -name "$oid")" | cut -d' ' -f1)"
rate() { awk -v b="$size" -v t="$1" 'BEGIN { printf "%.0f", b / t / 1e6 }'; }
echo "LFS PUT ${MIB} MiB: $(rate "${put#* }") MB/s (${put#* } s)"
echo "LFS GET ${MIB} MiB: $(rate "$gtime") MB/s (${gtime} s)"
finish
