# Helpers for the persist/ mount tests (test_mount_*.sh): the fs mount helpers, git with the
# token through a credential helper (never in a URL or argv), short sync timings.
source "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
hub_start
CACHE="$WORK/cache"
HOSTPORT=${HUB#*://}
HOSTPORT=${HOSTPORT//:/_} # the cache dir is named by the endpoint's host and port (fs/main.c)
# quiet 1 s, interval 1 s, remote changes every 2 s, unmount waits up to 10 s
POPTS="persist_quiet=1,persist_interval=1,persist_ttl=2,unmount_wait=10,persist_sync_timeout=60"
export GIT_CONFIG_GLOBAL="$WORK/gitconfig" GIT_TERMINAL_PROMPT=0
git config --global user.email t@example.com
git config --global user.name tester
git config --global credential.helper \
  "!f() { echo username=hf_user; echo \"password=\$(cat '$WORK/token')\"; }; f"

# api PATH: GET on the Hub with the token from its file
api() { curl -sS -H "Authorization: Bearer $(cat "$WORK/token")" "$HUB$1"; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# commits_of DATASET: number of commits on main (0 when missing)
commits_of() { api "/api/datasets/$1/commits/main" | jq 'if type == "array" then length else 0 end'; }
# state_of SPACE_DIR: the state line of persist.status
state_of() { sed -n 's/^state: //p' "$1/persist.status"; }
# wait_for SECONDS COMMAND...: polls every 0.2 s until the command succeeds
wait_for() {
  local end=$(($(date +%s) + $1)) ; shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
}
# sync_space SPACE_DIR: `echo sync > control`, printing OK or the errno name
sync_space() { errno_of write "$1/control" sync; }
# clone DATASET DIR: git clone + git lfs pull
clone() {
  rm -rf "$2"
  git clone -q "$HUB/datasets/$1" "$2" >>"$WORK/git.log" 2>&1 &&
    (cd "$2" && git lfs pull >>"$WORK/git.log" 2>&1)
}
