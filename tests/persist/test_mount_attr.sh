#!/usr/bin/env bash
# -o attr_timeout: how long the kernel keeps a file's attributes. persist.status grows when a
# write in persist/ makes it "pending" (the daemon changes it behind the kernel's back): with
# attr_timeout=30 a stat right after the write still sees the size the kernel kept, with 0
# every stat asks the daemon and sees the new size at once (the default, 1 s, is what every
# other mount test runs with). The content is never stale (direct_io: reads always reach the
# daemon). A bad value is refused.
source "$SPACEFS_SOURCE_DIR/tests/persist/mount_lib.sh"
S="$MNT/alice/chat"
P="$S/persist"

# status_sizes: the size stat(2) gives, then the bytes read, of persist.status, one line
status_sizes() { echo "$(stat -c %s "$S/persist.status") $(cat "$S/persist.status" | wc -c)"; }

for t in 30 0; do
  mount_fs "$TOKEN" "cache_dir=$CACHE-$t,persist_quiet=30,persist_interval=30,persist_ttl=30,attr_timeout=$t"
  ls "$P" >/dev/null # opens the engine
  wait_for 20 test "$(state_of "$S")" = clean || echo "persist/ never clean"
  before=$(status_sizes)
  echo "x" >"$P/attr-$t.txt"
  after=$(status_sizes)
  check_eq "attr_timeout=$t: the state is pending" pending "$(state_of "$S")"
  read -r st_before rd_before <<<"$before"
  read -r st_after rd_after <<<"$after"
  check_eq "attr_timeout=$t: stat agreed with the content before the write" "$rd_before" "$st_before"
  check_match "attr_timeout=$t: the content grew at once ($rd_before -> $rd_after bytes)" '^1$' \
    "$((rd_after > rd_before))"
  if [ "$t" = 30 ]; then
    check_eq "attr_timeout=30: stat right after still gives the size the kernel kept" \
      "$st_before" "$st_after"
  else
    check_eq "attr_timeout=0: stat right after gives the new size" "$rd_after" "$st_after"
  fi
  unmount_fs
done
check_match "a bad attr_timeout is refused, saying why" "bad attr_timeout 'soon'" \
  "$("$SPACEFS" "$WORK/nomnt" -f -o "endpoint=$HUB,token_file=$WORK/token,attr_timeout=soon" 2>&1)"
finish_fs
