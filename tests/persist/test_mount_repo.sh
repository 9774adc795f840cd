#!/usr/bin/env bash
# persist/ and its Dataset through the mounted binary: a missing Dataset created private on
# the first write, persist.repo (read; a per-Space override; EINVAL for a malformed id with
# nothing sent; EBUSY while changes are pending), a public Dataset refused with EACCES and a
# log line (and allowed with persist_public), a read token giving a read-only persist/, and
# writes that keep working locally while the Hub refuses commits.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
S="$MNT/alice/notes"
P="$S/persist"

# ---- a missing Dataset ----------------------------------------------------------------------
check_eq "default Dataset id from the pattern" alice/notes-persist "$(cat "$S/persist.repo")"
check_eq "it does not exist yet" 404 "$(status GET "$HUB/api/datasets/alice/notes-persist" -H "Authorization: Bearer $(cat "$WORK/token")")"
check_eq "empty persist/" "" "$(ls -A "$P")"
check_eq "empty snapshots/" "" "$(ls -A "$S/snapshots")"
echo first >"$P/a.txt"
check_eq "sync creates it" OK "$(sync_space "$S")"
check_eq "created private" true "$(api /api/datasets/alice/notes-persist | jq -r .private)"
check_eq "with the file" first "$(api /datasets/alice/notes-persist/resolve/main/a.txt)"
check_eq "a snapshot per commit (the Hub's initial one and ours)" "$(commits_of alice/notes-persist)" "$(ls "$S/snapshots" | wc -l)"

# ---- persist.repo override ------------------------------------------------------------------
hub_stats_reset
check_eq "malformed id: EINVAL" EINVAL "$(errno_of write "$S/persist.repo" 'not a repo')"
check_eq "three parts: EINVAL" EINVAL "$(errno_of write "$S/persist.repo" 'a/b/c')"
# (the engine's periodic fetch may run meanwhile: count only what a switch could send)
check_eq "nothing sent for bad input" 0 \
  "$(hub_stats | jq '[.routes | to_entries[] | select(.key | test("create|commit|preupload|settings")) | .value.count] | add // 0')"
check_eq "unchanged" alice/notes-persist "$(cat "$S/persist.repo")"
# pending changes (the Hub refuses commits for now): EBUSY
hub_fault '{"method":"POST","path":"/api/datasets/alice/notes-persist/commit/.*","action":"status","status":503,"count":-1}'
echo pending >"$P/b.txt"
check_eq "writes work while the Hub refuses commits" pending "$(cat "$P/b.txt")"
sleep 2
check_match "persist.status shows pending/error with the last error" '^(pending|error|uploading)$' "$(state_of "$S")"
check_eq "override while changes are pending: EBUSY" EBUSY "$(errno_of write "$S/persist.repo" alice/notes-data)"
check_match "and a log line says why" 'persist.repo of alice/notes: busy' "$(cat "$WORK/spacefs.err")"
hub_faults_clear
check_eq "sync once the Hub accepts" OK "$(sync_space "$S")"
check_eq "b.txt on the Hub" pending "$(api /datasets/alice/notes-persist/resolve/main/b.txt)"
check_eq "override once clean" OK "$(errno_of write "$S/persist.repo" alice/notes-data)"
check_eq "persist.repo reads the override" alice/notes-data "$(cat "$S/persist.repo")"
check_eq "stored in the Space's cache dir" alice/notes-data "$(cat "$CACHE/$HOSTPORT/alice/notes/persist.repo")"
check_eq "persist/ now shows the other Dataset (empty)" "" "$(ls -A "$P")"
echo other >"$P/c.txt"
check_eq "sync to the override" OK "$(sync_space "$S")"
check_eq "the override Dataset was created private" true "$(api /api/datasets/alice/notes-data | jq -r .private)"
check_eq "with the file" other "$(api /datasets/alice/notes-data/resolve/main/c.txt)"
check_match "persist.status names it" 'repo: alice/notes-data' "$(cat "$S/persist.status")"

# ---- a public Dataset ------------------------------------------------------------------------
curl -sS -o /dev/null -X POST -H "Authorization: Bearer $(cat "$WORK/token")" -H 'Content-Type: application/json' \
  -d '{"name":"pub-persist","organization":null,"type":"dataset","private":false}' "$HUB/api/repos/create"
check_eq "switch to a public Dataset" OK "$(errno_of write "$S/persist.repo" alice/pub-persist)"
before=$(commits_of alice/pub-persist)
r=$(errno_of create "$P/x.txt" data)
check_match "a write to it is refused now or kept locally" '^(OK|EACCES)$' "$r"
check_eq "echo sync fails with EACCES" EACCES "$(sync_space "$S")"
check_match "a clear log line" 'public.*EACCES|EACCES.*public' "$(cat "$WORK/spacefs.err")"
check_eq "later writes: EACCES" EACCES "$(errno_of create "$P/y.txt" data)"
check_eq "nothing committed to it" "$before" "$(commits_of alice/pub-persist)"
check_match "persist.status shows the error" 'last_error: .*' "$(grep last_error "$S/persist.status")"
unmount_fs
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS,persist_public"
check_eq "with persist_public: sync commits" OK "$(sync_space "$S")"
check_eq "persist_public: writes allowed" OK "$(errno_of create "$P/y.txt" data)"
check_eq "and they go up" OK "$(sync_space "$S")"
check_eq "the public Dataset has them" "data|$([ "$r" = OK ] && echo data || echo 404)" \
  "$(api /datasets/alice/pub-persist/resolve/main/y.txt)|$(api /datasets/alice/pub-persist/resolve/main/x.txt | sed 's/.*not found.*/404/I; s/.*Entry.*/404/')"
echo alice/notes-persist >"$S/persist.repo"
check_eq "back to the default Dataset" "a.txt b.txt" "$(ls "$P" | xargs)"

unmount_fs

# ---- a read token -----------------------------------------------------------------------------
mount_fs hf_alice_read "cache_dir=$WORK/cache-ro,$POPTS"
check_eq "read token: persist/ is 0555" 555 "$(stat -c %a "$P")"
check_eq "read token: files are 0444" 444 "$(stat -c %a "$P/a.txt")"
check_eq "read token: reads work" first "$(cat "$P/a.txt")"
check_eq "read token: create is EACCES" EACCES "$(errno_of create "$P/new.txt" x)"
check_eq "read token: overwrite is EACCES" EACCES "$(errno_of write "$P/a.txt" x)"
check_eq "read token: mkdir is EACCES" EACCES "$(errno_of mkdir "$P/dir")"
check_eq "read token: unlink is EACCES" EACCES "$(errno_of unlink "$P/a.txt")"
check_eq "read token: persist.repo is EACCES" EACCES "$(errno_of write "$S/persist.repo" alice/x)"
check_eq "read token: snapshots readable" first "$(cat "$S"/snapshots/*/a.txt | head -1)"
check_eq "read token: clean" clean "$(state_of "$S")"
unmount_fs

# ---- the Dataset is deleted on the Hub while mounted ------------------------------------------
mount_fs "$TOKEN" "cache_dir=$CACHE,$POPTS"
check_eq "mounted again: the Dataset's files" "a.txt b.txt" "$(ls "$P" | xargs)"
curl -sS -X DELETE -H "Authorization: Bearer $(cat "$WORK/token")" -H 'Content-Type: application/json' \
  -d '{"type":"dataset","name":"notes-persist","organization":"alice"}' "$HUB/api/repos/delete" >/dev/null
wait_for 15 bash -c '[ -z "$(ls "$1")" ]' _ "$P"
check_eq "deleted on the Hub: persist/ follows (empty)" "" "$(ls "$P")"
check "... and the log says the Dataset is gone" grep -q 'the Dataset is gone from the Hub' "$WORK/spacefs.err"
echo after >"$P/after.txt"
check_eq "the next change: echo sync > control" OK "$(sync_space "$S")"
check_eq "... created the Dataset again, private" true "$(api /api/datasets/alice/notes-persist | jq .private)"
check_eq "... with the change on it" after "$(api /datasets/alice/notes-persist/resolve/main/after.txt)"
finish_fs
