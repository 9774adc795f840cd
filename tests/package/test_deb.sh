#!/bin/bash
# The package, as a new user gets it: `cmake --install` into a scratch root puts every file in
# its GNUInstallDirs place; CPack builds the .deb (from a RelWithDebInfo build of its own, not
# the sanitizer build under test), its dependencies are real Debian 12 package names, dpkg -i
# installs it on this machine, and the installed /usr/bin/spacefs mounts the emulator through
# `mount -t fuse.spacefs` and through the README's fstab line (mount -T FILE). The package is
# removed again at the end unless it was installed before the test.
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
[ "$(id -u)" -eq 0 ] || skip "dpkg -i and mount(8) need root"
command -v dpkg-deb >/dev/null && command -v cpack >/dev/null || skip "dpkg-deb or cpack missing"
PB="$SPACEFS_BUILD_DIR/package-build" # kept between runs: rebuilds are incremental

# --- build and cmake --install into a scratch root -------------------------------------------
t0=$(ms)
cmake -S "$SPACEFS_SOURCE_DIR" -B "$PB" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >"$WORK/cmake.out" 2>&1 &&
  cmake --build "$PB" --target spacefs spacefs_manpage -j "$(nproc)" >>"$WORK/cmake.out" 2>&1
check "a RelWithDebInfo build of spacefs" test -x "$PB/fs/spacefs" || { tail -20 "$WORK/cmake.out"; finish; }
echo "build: $(($(ms) - t0)) ms"
DEST="$WORK/root"
DESTDIR="$DEST" cmake --install "$PB" --prefix /usr/local >"$WORK/install.out" 2>&1
check "cmake --install into a scratch root" test -x "$DEST/usr/local/bin/spacefs"
for f in bin/spacefs-sync bin/spacefs-restart-wait share/man/man1/spacefs.1.gz \
  lib/systemd/user/spacefs@.service lib/systemd/user/spacefs-ping@.timer \
  lib/systemd/user/spacefs-backup@.service lib/systemd/user/spacefs-restart@.timer \
  lib/systemd/system/spacefs-system@.service share/doc/spacefs/security.md \
  share/doc/spacefs/README.md share/doc/spacefs/mount-helpers/README.md; do
  check "installs /usr/local/$f" test -e "$DEST/usr/local/$f"
done
check_eq "units name the installed binary (--prefix at install time)" "ExecStart=/usr/local/bin/spacefs %h/hf/%i -f -o ttl=5,timeout=30,unmount_wait=120" \
  "$(grep '^ExecStart=' "$DEST/usr/local/lib/systemd/user/spacefs@.service")"

# --- the .deb ---------------------------------------------------------------------------------
rm -f "$PB"/spacefs_*.deb
(cd "$PB" && cpack -G DEB >"$WORK/cpack.out" 2>&1)
DEB=$(ls "$PB"/spacefs_*.deb 2>/dev/null | head -1)
check "cpack -G DEB builds spacefs_<version>_<arch>.deb" test -f "$DEB" || { tail -20 "$WORK/cpack.out"; finish; }
echo "build + package: $(($(ms) - t0)) ms ($DEB, $(stat -c %s "$DEB") bytes)"
check_eq "package name" spacefs "$(dpkg-deb -f "$DEB" Package)"
DEPS=$(dpkg-deb -f "$DEB" Depends)
for p in fuse3 libfuse3-3 libcurl4 libjansson4 libgit2-1.5; do
  check_match "depends on $p" "(^|, )$p( |,|$)" "$DEPS"
done
if apt-cache policy fuse3 2>/dev/null | grep -q Candidate; then
  for p in $(tr ',' '\n' <<<"$DEPS" | sed 's/(.*//; s/ //g'); do
    check "$p is a package name apt knows (Debian 12)" sh -c "apt-cache show '$p' >/dev/null 2>&1"
  done
fi
# every shared library the binary needs comes from a declared dependency
for lib in $(ldd "$PB/fs/spacefs" | awk '/=>/ {print $3}'); do
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
  [ -n "$pkg" ] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
  case $pkg in libc6 | libgcc-s1 | "") continue ;; esac
  # a library pulled in by a dependency is fine; a direct link must be declared
  case $(basename "$lib") in
  libfuse3* | libcurl* | libjansson* | libgit2*)
    check_match "$(basename "$lib") comes from a declared package ($pkg)" "(^|, )$pkg( |,|$)" "$DEPS" ;;
  esac
done
LIST=$(dpkg-deb -c "$DEB" | awk '{print $6}')
for f in ./usr/bin/spacefs ./usr/bin/spacefs-sync ./usr/bin/spacefs-restart-wait \
  ./usr/share/man/man1/spacefs.1.gz ./usr/lib/systemd/system/spacefs-system@.service \
  ./usr/lib/systemd/user/spacefs@.service; do
  check "the package holds $f" grep -qxF "$f" <<<"$LIST"
done
check_match "its units run /usr/bin/spacefs" "ExecStart=/usr/bin/spacefs /srv/spacefs/%i" \
  "$(dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/lib/systemd/system/spacefs-system@.service)"

# --- install it on this machine and mount with the installed binary ------------------------------
WAS_INSTALLED=$(dpkg-query -W -f='${Status}' spacefs 2>/dev/null | grep -c 'install ok installed')
remove_pkg() { [ "$WAS_INSTALLED" -eq 0 ] && dpkg -r spacefs >/dev/null 2>&1; }
at_exit remove_pkg
dpkg -i "$DEB" >"$WORK/dpkg.out" 2>&1
check "dpkg -i installs it (dependencies satisfied)" test "$(dpkg-query -W -f='${Status}' spacefs)" = "install ok installed" ||
  cat "$WORK/dpkg.out"
check_match "/usr/bin/spacefs --version" "^spacefs [0-9]+\.[0-9]+\.[0-9]+ \(libfuse 3\." "$(/usr/bin/spacefs --version)"
check_eq "the man page is found by man" "spacefs" "$(MANPAGER=cat man -P cat spacefs 2>/dev/null | awk 'NR==1 {print tolower($1)}' | sed 's/(1)//')"
if systemd-analyze --version >/dev/null 2>&1; then
  check_eq "systemd-analyze verify: the installed system unit" "" \
    "$(timeout 60 systemd-analyze verify /usr/lib/systemd/system/spacefs-system@root.service 2>&1)"
fi

hub_start
mkdir -p "$MNT"
printf '%s\n' "$TOKEN" >"$WORK/token"; chmod 600 "$WORK/token"
daemon_pid() { pgrep -f "spacefs [^ ]+ $MNT( |$)" | head -1; }
# wait_gone: after umount, the daemon finishes its uploads and exits
wait_gone() { local p=$1 i; for i in $(seq 300); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
mount -t fuse.spacefs spacefs "$MNT" -o "endpoint=$HUB,token_file=$WORK/token,cache_dir=$WORK/cache,timeout=5" \
  >"$WORK/mount.out" 2>&1
check "mount -t fuse.spacefs with the installed binary" grep -q " $MNT fuse.spacefs " /proc/mounts ||
  cat "$WORK/mount.out"
PID=$(daemon_pid)
check_eq "the daemon is /usr/bin/spacefs" /usr/bin/spacefs "$(readlink /proc/${PID:-0}/exe)"
check_eq "it serves the account" "name: alice" "$(head -1 "$MNT/.spacefs/whoami")"
echo "from the package" >"$MNT/alice/chat/persist/pkg.txt"
check "echo sync > control" sh -c "echo sync > '$MNT/alice/chat/control'"
check_eq "the Hub has the file" "from the package" \
  "$(curl -sL -H "Authorization: Bearer $TOKEN" "$HUB/datasets/alice/chat-persist/resolve/main/pkg.txt")"
umount "$MNT"
check "umount; the daemon exits" wait_gone "${PID:-0}"

# the fstab line of mount-helpers/README.md, as written there but for alice's home (a scratch
# one) and the emulator's endpoint: mount -T FILE reads it from a scratch fstab
LINE=$(python3 "$SPACEFS_SOURCE_DIR/tests/docs/extract.py" "$SPACEFS_SOURCE_DIR/mount-helpers/README.md" |
  jq -r 'select(.kind == "fstab") | .cmd' | head -1)
check_match "the README has an fstab line" "fuse\.spacefs" "$LINE"
mkdir -p "$WORK/home/.cache/huggingface" "$WORK/home/hf"
install -m 0600 "$WORK/token" "$WORK/home/.cache/huggingface/token"
LINE=$(sed "s|/home/alice|$WORK/home|g" <<<"$LINE" | awk -v ep="$HUB" -v c="$WORK/cache" '{ $4 = $4 ",endpoint=" ep ",cache_dir=" c; print }')
echo "$LINE" >"$WORK/fstab"
MNT=$WORK/home/hf
mount -T "$WORK/fstab" "$MNT" >"$WORK/mount.out" 2>&1
check "mount through an fstab line" grep -q " $MNT fuse.spacefs " /proc/mounts || cat "$WORK/mount.out"
PID=$(daemon_pid)
check_eq "status through it" "RUNNING" "$(cat "$MNT/alice/chat/status")"
umount "$MNT"
check "umount; the daemon exits" wait_gone "${PID:-0}"

# The installed binary against the emulator over TLS, as against the real Hub (the README's
# real-Hub steps with a private CA: -o ca_file alone, not the CA variables hub.sh exports)
hub_stop
HUB_TLS=1 hub_start
check_match "the emulator serves https" "^https://" "$HUB"
env -u CURL_CA_BUNDLE -u SSL_CERT_FILE -u GIT_SSL_CAINFO \
  mount -t fuse.spacefs spacefs "$MNT" -o "endpoint=$HUB,ca_file=$HUB_CA,token_file=$WORK/token,cache_dir=$WORK/cache-tls,timeout=10" \
  >"$WORK/mount.out" 2>&1
check "mount -t fuse.spacefs over TLS" grep -q " $MNT fuse.spacefs " /proc/mounts || cat "$WORK/mount.out"
PID=$(daemon_pid)
check_eq "whoami over TLS" "name: alice" "$(head -1 "$MNT/.spacefs/whoami")"
echo "over tls" >"$MNT/alice/chat/persist/tls.txt"
check "persist/ commits over TLS" sh -c "echo sync > '$MNT/alice/chat/control'"
check_eq "the Hub has it" "over tls" \
  "$(curl -sL --cacert "$HUB_CA" -H "Authorization: Bearer $TOKEN" "$HUB/datasets/alice/chat-persist/resolve/main/tls.txt")"
umount "$MNT"
check "umount; the daemon exits" wait_gone "${PID:-0}"
finish_fs
