#!/usr/bin/env bash
# Git smart HTTP with real git and git-lfs: anonymous clone of public repos, private repos need
# the token (a credential helper reads it from the environment, so it is never on a command
# line or in a URL), push with LFS, clone again with smudged pointers, the Hub's pre-receive
# rejections, read-only tokens, and the push hook rebuilding a Space.
. "$(dirname "$0")/../../lib/hub.sh"
hub_start
export GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 HOME="$WORK/home"
mkdir -p "$HOME"
git config --global user.name tester
git config --global user.email tester@localhost
git config --global init.defaultBranch main
git lfs install --skip-repo >/dev/null
cat >"$WORK/cred" <<'EOF'
#!/bin/sh
# git credential helper: the token comes from $HF_TOKEN, never from argv or the remote URL
[ "$1" = get ] || exit 0
[ -n "$HF_TOKEN" ] || exit 0
echo username=hf_user
echo "password=$HF_TOKEN"
EOF
chmod +x "$WORK/cred"
git config --global credential.helper "$WORK/cred"
git config --global lfs.locksverify false
unset HF_TOKEN
# every git output goes through this filter; the test fails if a token shows up anywhere
LOG="$WORK/git.log"
g() { git "$@" >>"$LOG" 2>&1; }
cd "$WORK"

# --- clone ---
check "anonymous clone of a public Space" g clone "$HUB/spaces/alice/chat" chat
check_eq "cloned files" ".gitattributes Dockerfile README.md app.py" "$(cd chat && git ls-files | sort | tr '\n' ' ' | sed 's/ $//')"
check "clone with .git suffix" g clone "$HUB/spaces/acme/dashboard.git" dash
check_eq "anonymous clone of a private dataset fails" refused "$(g clone "$HUB/datasets/alice/chat-persist" p0 && echo accepted || echo refused)"
check_match "  git asked for credentials (401)" "could not read Username|Authentication failed" "$(tail -3 "$LOG")"
check_eq "bob cannot see it (private repos look absent)" refused "$(HF_TOKEN=hf_bob_write g clone "$HUB/datasets/alice/chat-persist" p1 && echo accepted || echo refused)"
check_match "  404 for bob" "not found|404" "$(tail -3 "$LOG")"
check "alice clones her private dataset" env HF_TOKEN=hf_alice_read git clone -q "$HUB/datasets/alice/chat-persist" persist
check_eq "private dataset content" hello "$(cat persist/notes.txt)"

# --- push with LFS ---
export HF_TOKEN=hf_alice_write
cd persist
git lfs track '*.blob' >/dev/null
head -c 3000000 /dev/urandom >model.blob
mkdir -p sub && echo "text v2" >sub/readme.txt
g add -A && g commit -m "LFS and text"
check "push with LFS objects" g push origin main
cd ..
sha=$(cd persist && git rev-parse HEAD)
check_eq "REST sees the pushed commit" "$sha" \
  "$(curl -sS -H 'Authorization: Bearer hf_alice_read' "$HUB/api/datasets/alice/chat-persist" | jq -r .sha)"
oid=$(sha256sum persist/model.blob | cut -d' ' -f1)
check_eq "tree shows the LFS file" "$oid 3000000" \
  "$(curl -sS -H 'Authorization: Bearer hf_alice_read' "$HUB/api/datasets/alice/chat-persist/tree/main" | jq -r '.[] | select(.path=="model.blob") | "\(.lfs.oid) \(.size)"')"
check "clone again: pointers smudged" g clone "$HUB/datasets/alice/chat-persist" persist2
check "  LFS content equal" cmp persist/model.blob persist2/model.blob
check_eq "  pointer in git" "version https://git-lfs.github.com/spec/v1" "$(cd persist2 && git cat-file -p HEAD:model.blob | head -1)"
check_eq "resolve of the pushed LFS file" "$oid" \
  "$(curl -sSL -H 'Authorization: Bearer hf_alice_read' "$HUB/datasets/alice/chat-persist/resolve/main/model.blob" | sha256sum | cut -d' ' -f1)"

# --- commits through the API show up in git ---
printf '{"key":"header","value":{"summary":"api edit"}}\n{"key":"file","value":{"path":"api.txt","content":"%s","encoding":"base64"}}\n' \
  "$(printf 'from api' | base64)" | curl -sS -o /dev/null -X POST -H "Authorization: Bearer $HF_TOKEN" \
  --data-binary @- "$HUB/api/datasets/alice/chat-persist/commit/main"
check "pull an API commit" g -C persist pull --ff-only
check_eq "  file from the API" "from api" "$(cat persist/api.txt)"

# --- pre-receive rejections ---
cd persist
head -c $((11 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >huge.txt
g add huge.txt && g commit -m "too big"
: >"$LOG"
check_eq "push of a non-LFS file above 10 MiB is refused" refused "$(g push origin main && echo accepted || echo refused)"
check_match "  the Hub's message" "Your push was rejected because it contains files larger than 10 MiB" "$(cat "$LOG")"
check_match "  offending file listed" "huge.txt \(ref: refs/heads/main\)" "$(cat "$LOG")"
check_match "  pre-receive hook declined" "pre-receive hook declined" "$(cat "$LOG")"
g reset -q --hard HEAD~1
head -c 1500000 /dev/urandom >data.raw.bin2
g add data.raw.bin2 && g commit -m "binary"
: >"$LOG"
check_eq "push of a binary above 1 MiB is refused" refused "$(g push origin main && echo accepted || echo refused)"
check_match "  binary message" "contains binary files" "$(cat "$LOG")"
g reset -q --hard HEAD~1
check_eq "branch unchanged after refusals" "$(git rev-parse HEAD)" \
  "$(curl -sS -H 'Authorization: Bearer hf_alice_read' "$HUB/api/datasets/alice/chat-persist" | jq -r .sha)"
echo small >s.txt && g add s.txt && g commit -m "small"
check_eq "push with a read token: refused" refused "$(HF_TOKEN=hf_alice_read g push origin main && echo accepted || echo refused)"
check_match "  403" "403|rights" "$(tail -4 "$LOG")"
check "push to refs/pr/1" g push origin HEAD:refs/pr/1
check_eq "refs/pr/1 resolvable" "$(git rev-parse HEAD)" \
  "$(curl -sS -I -H 'Authorization: Bearer hf_alice_read' "$HUB/datasets/alice/chat-persist/resolve/refs%2Fpr%2F1/s.txt" | grep -i x-repo-commit | awk '{print $2}' | tr -d '\r')"
cd ..

# --- pushing to a Space rebuilds it ---
check_eq "Space running before" RUNNING "$(curl -sS "$HUB/api/spaces/alice/chat/runtime" | jq -r .stage)"
(cd chat && echo "print('v2')" >app.py && g commit -am v2)
check "push to the Space" g -C chat push origin main
check_match "Space rebuilds after the push" "BUILDING|APP_STARTING" "$(curl -sS "$HUB/api/spaces/alice/chat/runtime" | jq -r .stage)"
check_eq "bob cannot push to alice's Space" refused "$(HF_TOKEN=hf_bob_write g -C chat push origin HEAD:refs/heads/other && echo accepted || echo refused)"

# --- a new model repo, pushed from scratch ---
curl -sS -o /dev/null -X POST "$HUB/api/repos/create" -H "Authorization: Bearer $HF_TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"fresh"}'
check "clone a new model repo" g clone "$HUB/alice/fresh" fresh
(cd fresh && echo "# fresh" >README.md && g add README.md && g commit -m readme)
check "push to it" g -C fresh push
check_eq "model resolve after the push" "# fresh" "$(curl -sS "$HUB/alice/fresh/resolve/main/README.md")"

check_eq "no token in any git output" 0 "$(grep -c 'hf_alice\|hf_bob' "$LOG")"
finish
