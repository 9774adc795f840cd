#!/usr/bin/env bash
# File routes with curl: tree (recursive, folders, expand, pagination, 404), paths-info (form and
# JSON, 413), resolve/raw under the three URL prefixes (headers, Range, 404/416, HEAD and
# refs%2Fpr%2F1 revisions), LFS redirects to signed URLs (no token, tampered or expired: 403).
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
AW=(-H "Authorization: Bearer hf_alice_write")
BW=(-H "Authorization: Bearer hf_bob_write")
hdr() { grep -i "^$1:" | head -1 | sed -E 's/^[^:]*: *//' | tr -d '\r'; }

# A dataset with folders, an LFS file (uploaded through the batch API) and a refs/pr/1 ref.
curl -sS -o /dev/null -X POST "$HUB/api/repos/create" "${AW[@]}" -H 'Content-Type: application/json' \
  -d '{"name":"files","type":"dataset"}'
head -c 300000 /dev/urandom >"$WORK/w.bin"
oid=$(sha256sum "$WORK/w.bin" | cut -d' ' -f1)
href=$(curl -sS -X POST "$HUB/datasets/alice/files.git/info/lfs/objects/batch" "${AW[@]}" \
  -H 'Content-Type: application/vnd.git-lfs+json' \
  -d "{\"operation\":\"upload\",\"transfers\":[\"basic\"],\"hash_algo\":\"sha256\",\"objects\":[{\"oid\":\"$oid\",\"size\":300000}]}" |
  jq -r '.objects[0].actions.upload.href')
curl -sS -o /dev/null -X PUT --data-binary @"$WORK/w.bin" "$href"
{
  echo '{"key":"header","value":{"summary":"layout"}}'
  for p in a/x.txt a/b/y.txt a/b/z.txt top.txt; do
    printf '{"key":"file","value":{"path":"%s","content":"%s","encoding":"base64"}}\n' "$p" "$(printf 'data of %s\n' "$p" | base64 -w0)"
  done
  printf '{"key":"lfsFile","value":{"path":"a/w.bin","algo":"sha256","oid":"%s","size":300000}}\n' "$oid"
} >"$WORK/c.ndjson"
commit=$(curl -sS -X POST "$HUB/api/datasets/alice/files/commit/main" "${AW[@]}" \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$WORK/c.ndjson" | jq -r .commitOid)
check_match "setup commit" '^[0-9a-f]{40}$' "$commit"
T="$HUB/api/datasets/alice/files/tree/main"

# --- tree ---
check_eq "tree root" "directory:a file:.gitattributes file:top.txt" \
  "$(curl -sS "$T" | jq -r '[.[] | "\(.type):\(.path)"] | sort | join(" ")')"
check_eq "tree recursive" ".gitattributes a a/b a/b/y.txt a/b/z.txt a/w.bin a/x.txt top.txt" \
  "$(curl -sS "$T?recursive=true" | jq -r '[.[].path] | sort | join(" ")')"
check_eq "tree folder, raw slash" "a/b/y.txt a/b/z.txt" "$(curl -sS "$T/a/b" | jq -r '[.[].path] | join(" ")')"
check_eq "tree folder, %2F-encoded" "a/b/y.txt a/b/z.txt" "$(curl -sS "$T/a%2Fb" | jq -r '[.[].path] | join(" ")')"
check_eq "tree file oid is git sha1" "$(printf 'data of top.txt\n' | git hash-object --stdin)" \
  "$(curl -sS "$T" | jq -r '.[] | select(.path=="top.txt") .oid')"
check_eq "tree lfs entry" "300000 $oid 300000" \
  "$(curl -sS "$T/a" | jq -r '.[] | select(.path=="a/w.bin") | "\(.size) \(.lfs.oid) \(.lfs.size)"')"
check_match "tree lfs pointerSize" '^1[23][0-9]$' \
  "$(curl -sS "$T/a" | jq -r '.[] | select(.path=="a/w.bin") | .lfs.pointerSize')"
check_eq "tree expand lastCommit" "layout $commit" \
  "$(curl -sS "$T?expand=true" | jq -r '.[] | select(.path=="top.txt") | "\(.lastCommit.title) \(.lastCommit.id)"')"
check_eq "tree missing folder: 404 EntryNotFound" "404 EntryNotFound" \
  "$(curl -sS -o /dev/null -D - "$T/nope" | awk 'NR==1{s=$2} tolower($1)=="x-error-code:"{c=$2} END{print s" "c}' | tr -d '\r')"
check_eq "tree at unknown revision: 404" 404 "$(status GET "$HUB/api/datasets/alice/files/tree/nope")"
check_eq "tree of a private repo for bob: 404" 404 "$(status GET "$HUB/api/datasets/alice/chat-persist/tree/main" "${BW[@]}")"
# pagination: limit=3 pages of the 8 recursive entries, following Link
url="$T?recursive=true&limit=3" pages=0 all=""
while [ -n "$url" ] && [ $pages -lt 10 ]; do
  curl -sS -D "$WORK/h" -o "$WORK/page" "$url"
  all="$all $(jq -r '[.[].path] | join(" ")' "$WORK/page")"
  url=$(hdr link <"$WORK/h" | sed -nE 's/^<([^>]*)>; rel="next"$/\1/p')
  pages=$((pages + 1))
done
check_eq "tree pagination: 3 pages via Link" 3 "$pages"
check_eq "tree pagination: every entry once" 8 "$(echo $all | tr ' ' '\n' | sort -u | wc -l)"

# --- paths-info ---
P="$HUB/api/datasets/alice/files/paths-info/main"
check_eq "paths-info form body, missing skipped" "a:directory top.txt:file" \
  "$(curl -sS "$P" --data-urlencode paths=top.txt --data-urlencode paths=nope --data-urlencode paths=a -d expand=false |
     jq -r '[.[] | "\(.path):\(.type)"] | sort | join(" ")')"
check_eq "paths-info JSON body with expand" "a/w.bin $oid layout" \
  "$(curl -sS "$P" -H 'Content-Type: application/json' -d '{"paths":["a/w.bin"],"expand":true}' |
     jq -r '.[] | "\(.path) \(.lfs.oid) \(.lastCommit.title)"')"
check_eq "paths-info >1000 paths: 413" 413 \
  "$(status POST "$P" -H 'Content-Type: application/json' -d "$(jq -nc '{paths: [range(1001) | "p\(.)"]}')")"

# --- resolve, three prefixes ---
for pre in "" datasets/ spaces/; do
  case $pre in "") repo=alice/m;; datasets/) repo=alice/chat-persist;; spaces/) repo=alice/chat;; esac
  [ -z "$pre" ] && curl -sS -o /dev/null -X POST "$HUB/api/repos/create" "${AW[@]}" \
    -H 'Content-Type: application/json' -d '{"name":"m"}'
  u="$HUB/${pre}$repo/resolve/main/.gitattributes"
  check_eq "resolve GET ${pre:-models/}" 200 "$(status GET "$u" "${AW[@]}")"
  curl -sS -I "${AW[@]}" "$u" >"$WORK/h"
  check_match "resolve HEAD X-Repo-Commit ${pre:-models/}" '^[0-9a-f]{40}$' "$(hdr x-repo-commit <"$WORK/h")"
done
R="$HUB/datasets/alice/files/resolve"
curl -sS -I "$R/main/top.txt" >"$WORK/h"
check_eq "resolve HEAD ETag is the quoted git sha1" "\"$(printf 'data of top.txt\n' | git hash-object --stdin)\"" \
  "$(hdr etag <"$WORK/h")"
check_eq "resolve HEAD Content-Length" 16 "$(hdr content-length <"$WORK/h")"
check_eq "resolve X-Repo-Commit" "$commit" "$(hdr x-repo-commit <"$WORK/h")"
check_eq "resolve GET body" "data of top.txt" "$(curl -sS "$R/main/top.txt")"
check_eq "resolve at HEAD revision" "data of top.txt" "$(curl -sS "$R/HEAD/top.txt")"
check_eq "resolve at a commit sha" "data of top.txt" "$(curl -sS "$R/$commit/top.txt")"
check_eq "resolve nested path" "data of a/b/y.txt" "$(curl -sS "$R/main/a/b/y.txt")"
curl -sS -D "$WORK/h" -o "$WORK/body" -H 'Range: bytes=8-10' "$R/main/top.txt"
check_eq "Range: 206 + Content-Range" "206 bytes 8-10/16 top" \
  "$(head -1 "$WORK/h" | awk '{print $2}') $(hdr content-range <"$WORK/h") $(cat "$WORK/body")"
check_eq "Range suffix bytes=-4" ".txt" "$(curl -sS -H 'Range: bytes=-5' "$R/main/top.txt" | head -c 4)"
curl -sS -D "$WORK/h" -o /dev/null -H 'Range: bytes=100-' "$R/main/top.txt"
check_eq "Range beyond the end: 416 with bytes */size" "416 bytes */16" \
  "$(head -1 "$WORK/h" | awk '{print $2}') $(hdr content-range <"$WORK/h")"
curl -sS -D "$WORK/h" -o /dev/null "$R/main/missing.txt"
check_eq "resolve missing: 404 EntryNotFound with X-Repo-Commit" "404 EntryNotFound $commit" \
  "$(head -1 "$WORK/h" | awk '{print $2}') $(hdr x-error-code <"$WORK/h") $(hdr x-repo-commit <"$WORK/h")"
check_eq "resolve folder: 404" 404 "$(status GET "$R/main/a")"
check_eq "resolve unknown revision: 404 RevisionNotFound" RevisionNotFound \
  "$(curl -sS -o /dev/null -D - "$R/nope/top.txt" | hdr x-error-code)"
check_eq "resolve private anonymous: 401" 401 "$(status GET "$HUB/datasets/alice/chat-persist/resolve/main/notes.txt")"
check_eq "resolve private for bob: 404" 404 "$(status GET "$HUB/datasets/alice/chat-persist/resolve/main/notes.txt" "${BW[@]}")"

# refs/pr/1 as a revision, %2F-encoded (the ref is made with git plumbing in the bare repo)
gd="$HUB_STATE/repos/datasets/alice/files.git"
pr=$(GIT_DIR=$gd git -c user.name=t -c user.email=t@t commit-tree -p "$commit" -m pr \
  "$(GIT_DIR=$gd git rev-parse "$commit^{tree}")")
GIT_DIR=$gd git update-ref refs/pr/1 "$pr"
check_eq "resolve at refs%2Fpr%2F1" "$pr" "$(curl -sS -I "$R/refs%2Fpr%2F1/top.txt" | hdr x-repo-commit)"
check_eq "tree at refs%2Fpr%2F1" "$pr" "$(curl -sS -D - -o /dev/null "$HUB/api/datasets/alice/files/tree/refs%2Fpr%2F1" | hdr x-repo-commit)"

# --- LFS content: 302 to a signed URL ---
curl -sS -D "$WORK/h" -o /dev/null "${AW[@]}" "$R/main/a/w.bin"
check_eq "LFS resolve: 302" 302 "$(head -1 "$WORK/h" | awk '{print $2}')"
check_eq "LFS X-Linked-Size / X-Linked-Etag" "300000 \"$oid\"" \
  "$(hdr x-linked-size <"$WORK/h") $(hdr x-linked-etag <"$WORK/h")"
loc=$(hdr location <"$WORK/h")
check_match "Location is absolute and signed" "^$HUB/lfs-storage/objects/$oid\?.*X-Signature=" "$loc"
check_eq "signed URL needs no token" "$oid" "$(curl -sS "$loc" | sha256sum | cut -d' ' -f1)"
check_eq "curl -L follows to the content" "$oid" "$(curl -sSL "$R/main/a/w.bin" | sha256sum | cut -d' ' -f1)"
check_eq "signed URL Range 0-0 (how huggingface.js probes)" "206 bytes 0-0/300000" \
  "$(curl -sS -D - -o /dev/null -H 'Range: bytes=0-0' "$loc" | awk 'NR==1{s=$2} tolower($1)=="content-range:"{c=$2" "$3} END{print s" "c}' | tr -d '\r')"
# a ranged read from the middle, as streaming clients (spacefs persist/) read LFS objects: 206,
# Content-Range, exactly the bytes asked for (huggingface_hub's http_get resumes the same way
# with Range: bytes=N-; S3 and CloudFront answer like this)
curl -sS -D "$WORK/h" -o "$WORK/part" -H 'Range: bytes=131072-135167' "$loc"
check_eq "signed URL mid-object Range: 206 + Content-Range + 4096 bytes" "206 bytes 131072-135167/300000 4096" \
  "$(head -1 "$WORK/h" | awk '{print $2}') $(hdr content-range <"$WORK/h") $(stat -c %s "$WORK/part")"
check_eq "  and they are the object's bytes at that offset" \
  "$(curl -sS "$loc" | tail -c +131073 | head -c 4096 | sha256sum)" "$(sha256sum <"$WORK/part")"
check_eq "signed URL Range through the end (bytes=N-)" "206 bytes 299000-299999/300000" \
  "$(curl -sS -D - -o /dev/null -H 'Range: bytes=299000-' "$loc" | awk 'NR==1{s=$2} tolower($1)=="content-range:"{c=$2" "$3} END{print s" "c}' | tr -d '\r')"
check_eq "signed URL tampered: 403" 403 "$(status GET "${loc/X-Signature=/X-Signature=0}")"
check_eq "signed URL for another object: 403" 403 "$(status GET "${loc/$oid/$(printf x | sha256sum | cut -d' ' -f1)}")"
hub_advance 7200
check_eq "signed URL expired: 403" 403 "$(status GET "$loc")"
hub_advance -7200
check_eq "/raw/ serves the pointer" "version https://git-lfs.github.com/spec/v1|oid sha256:$oid|size 300000" \
  "$(curl -sS "$HUB/datasets/alice/files/raw/main/a/w.bin" | paste -sd'|')"
check_eq "/raw/ of a missing file: 404 EntryNotFound" EntryNotFound \
  "$(curl -sS -o /dev/null -D - "$HUB/datasets/alice/files/raw/main/nope" | hdr x-error-code)"
check_eq "/raw/ of a regular file" "data of top.txt" "$(curl -sS "$HUB/datasets/alice/files/raw/main/top.txt")"
finish
