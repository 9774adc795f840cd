#!/usr/bin/env bash
# A token rotated under a mount that runs for months: the user revokes it on the Hub (after a
# leak, or as a habit) and puts a new one in the token file (`hf auth login` writes it there).
# While the old one is refused, writes that need the Hub fail with EACCES and persist/ keeps the
# changes; once the file holds the new token, the next request uses it, without a remount: the
# API calls (client), the commit, and the git fetch (mirror). Neither token shows in any output.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
S="$MNT/alice/chat"
P="$S/persist"
DS=alice/chat-persist
T1="hf_rotate_one_$RANDOM$RANDOM" T2="hf_rotate_two_$RANDOM$RANDOM"
tokens() { curl -sS -X POST "$HUB_ADMIN/_hubd/tokens" -H 'Content-Type: application/json' -d "$1" >/dev/null; }
tokens "{\"add\": {\"value\": \"$T1\", \"user\": \"alice\", \"role\": \"write\"}}"

mount_fs "$T1" "cache_dir=$CACHE,$POPTS"
echo one >"$P/one.txt"
check_eq "with the first token: echo sync > control" OK "$(sync_space "$S")"
check_eq "a variable is written" OK "$(errno_of create "$S/variables/ROTATION" first)"

tokens "{\"revoke\": \"$T1\"}"
check_eq "revoked on the Hub: a variable write is EACCES" EACCES "$(errno_of create "$S/variables/ROTATION" second)"
echo two >"$P/two.txt"
check_eq "persist/ keeps the change locally" two "$(cat "$P/two.txt")"
check_eq "... and echo sync > control fails with EACCES" EACCES "$(sync_space "$S")"
check_match "persist.status says why" '^last_error: .*not authenticated' "$(grep last_error "$S/persist.status")"

tokens "{\"add\": {\"value\": \"$T2\", \"user\": \"alice\", \"role\": \"write\"}}"
printf '%s' "$T2" >"$WORK/token" # what `hf auth login` does: the file gets the new token
# first with a mode others may write (a umask of 002): refused, and said once
chmod 664 "$WORK/token"
check_eq "the new token in a group-writable file: still EACCES" EACCES \
  "$(errno_of create "$S/variables/ROTATION" third)"
check "... and the log says why (chmod 600)" grep -q 'token file cannot be read again: .*chmod 600' "$WORK/spacefs.err"
errno_of create "$S/variables/ROTATION" third >/dev/null
check_eq "... once, not at every refused request" 1 "$(grep -c 'token file cannot be read again' "$WORK/spacefs.err")"
chmod 600 "$WORK/token"
check_eq "the new token in the file: a variable write works, no remount" OK \
  "$(errno_of create "$S/variables/ROTATION" third)"
check_eq "... and reads back" third "$(cat "$S/variables/ROTATION")"
check_eq "echo sync > control commits what waited" OK "$(sync_space "$S")"
check_eq "two.txt is on the Hub" two "$(api "/datasets/$DS/resolve/main/two.txt")"
api "/api/datasets/$DS/commits/main" >/dev/null
# another machine's commit, for the mirror's fetch with the new token
git clone -q "$HUB/datasets/$DS" "$WORK/clone" 2>>"$WORK/git.err"
(cd "$WORK/clone" && echo three >three.txt && git add three.txt && git commit -qm three &&
  git push -q origin main) >>"$WORK/git.err" 2>&1
wait_for 20 test -f "$P/three.txt"
check_eq "the git fetch uses the new token too (another machine's file shows up)" three "$(cat "$P/three.txt" 2>/dev/null)"
check "the log says the token file's new token is used" grep -q 'token file holds a new one' "$WORK/spacefs.err"
check "... once per client, not per request" test "$(grep -c 'token file holds a new one' "$WORK/spacefs.err")" -le 2
TOKEN=$T2 # finish_fs scans every output for it
leaked=$(cat "$ALL_OUT" "$WORK/spacefs.err" "$WORK/hubd.out" "$WORK/hubd.err" "$WORK/git.err" 2>/dev/null | grep -c -e "$T1" -e "$T2")
check_eq "neither token in any output" 0 "$leaked"
finish_fs
