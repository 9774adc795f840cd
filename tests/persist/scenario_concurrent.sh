#!/bin/bash
# Two writers on one Dataset: while we write files A* into persist/ (syncing now and then), a
# node script with @huggingface/hub commits files B* to the same Dataset. After a sync and the
# persist_ttl both sets exist on the Hub and through the mount. The same file changed on both
# sides: the last writer wins (both orders) and the other version stays in the Dataset's history.
. "$(dirname "$0")/scenario_lib.sh"
require_fuse
require_node
hub_start
mount_persist "$WORK/cache" "persist_ttl=2,persist_quiet=1,persist_interval=1"
C="$P/conc"
mkdir -p "$C"
echo "settle" >"$C/settle.txt"
check_eq "first sync" OK "$(psync 60)"

section "A* here while hfjs commits B*"
hfjs writer conc/B 10 150 >"$WORK/b.list" &
JS=$!
for i in $(seq 0 29); do
  printf 'A file %d %s\n' "$i" "$RANDOM" >"$C/A-$i.txt"
  [ $((i % 10)) -eq 9 ] && psync 60 >/dev/null
  sleep 0.1
done
wait $JS
check_eq "hfjs made 10 commits" 10 "$(wc -l <"$WORK/b.list")"
check_eq "echo sync > control" OK "$(psync 60)"
sleep 2.5 # persist_ttl: the worker fetches the Hub's head
for i in $(seq 1 50); do
  [ "$(ls "$C" | grep -c "^B-")" -eq 10 ] && break
  sleep 0.2
done
check_eq "every B* visible through the mount after the ttl" 10 "$(ls "$C" | grep -c '^B-')"
check_eq "every A* still there" 30 "$(ls "$C" | grep -c '^A-')"
want=$(while read -r p s; do echo "$p $s"; done <"$WORK/b.list" | sort | xargs)
got=$(cd "$P" && for f in conc/B-*.txt; do echo "$f $(sha256sum <"$f" | cut -c1-64)"; done | sort | xargs)
check_eq "B* content through the mount" "$want" "$got"
want=$(cd "$P" && for f in conc/A-*.txt; do echo "$f $(sha256sum <"$f" | cut -c1-64)"; done | sort | xargs)
got=$(hfjs sha $(cd "$P" && ls conc/A-*.txt) | sort | xargs)
check_eq "A* content on the Hub (@huggingface/hub)" "$want" "$got"
check_eq "Hub lists all 41 files under conc/" 41 "$(hfjs files | grep -c '^conc/')"

section "same file, remote writes last"
echo "local v1" >"$C/shared.txt"
check_eq "local v1 synced" OK "$(psync 60)"
echo "remote v2" >"$WORK/v2"
hfjs upload conc/shared.txt="$WORK/v2" --title "remote v2" >/dev/null
for i in $(seq 1 50); do [ "$(cat "$C/shared.txt")" = "remote v2" ] && break; sleep 0.2; done
check_eq "the later remote version wins through the mount" "remote v2" "$(cat "$C/shared.txt")"
check_eq "and on the Hub" "remote v2" "$(api "/datasets/$DS/resolve/main/conc/shared.txt")"

section "same file, local writes last"
echo "remote v3" >"$WORK/v3"
hfjs upload conc/shared.txt="$WORK/v3" --title "remote v3" >/dev/null
echo "local v4" >"$C/shared.txt"
check_eq "sync" OK "$(psync 60)"
check_eq "the later local version wins on the Hub" "local v4" "$(api "/datasets/$DS/resolve/main/conc/shared.txt")"
sleep 2.5
check_eq "and stays through the mount after the ttl" "local v4" "$(cat "$C/shared.txt")"

section "history keeps every version"
if ds_clone "$WORK/clone"; then pass "git clone"; else fail "git clone" "$(tail -3 "$LOGS/git.log")"; fi
hist=$(cd "$WORK/clone" && for h in $(git rev-list HEAD -- conc/shared.txt); do git show "$h:conc/shared.txt" 2>/dev/null; done | xargs)
check_eq "history of shared.txt (newest first)" "local v4 remote v3 remote v2 local v1" "$hist"
check_eq "every B commit kept" 10 "$(git -C "$WORK/clone" log --format=%s | grep -c '^hfjs conc/B-')"
check_eq "persist.status clean" clean "$(pstat state)"

scenario_finish
