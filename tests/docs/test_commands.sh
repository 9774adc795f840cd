#!/bin/bash
# Every shell command shown in README.md, docs/*.md, docs/spacefs.1 (EXAMPLES) and
# mount-helpers/README.md, run against the local Hub (extract.py lists them; an untagged code
# fence fails, so no command block goes untested by accident). Each block runs in one bash, in a
# scratch directory that looks like the source tree, with a scratch HOME whose
# ~/.cache/huggingface/token is alice's (mode 0600), HF_ENDPOINT set to the emulator, and the
# built spacefs and mount-helpers first on PATH. Every command must exit 0.
#
# Rewrites, applied to the command text (each stands for something this machine lacks):
#   /usr/bin/spacefs, /usr/local/bin/spacefs -> the build under test (PATH)  (not installed here)
#   /etc/spacefs, /srv/spacefs, /home/alice   -> under the scratch dir        (no system changes)
#   hf/main/                                 -> hf/  (the mount of spacefs@main is ~/hf here)
#   --port 8088, :8088, --port 8443, :8443   -> free ports                    (parallel tests)
#   sudo cmake --install build               -> DESTDIR=scratch cmake --install <build under test>
# A block that does not mount ~/hf itself gets one mounted before it (the docs' "your mount").
# A command that follows (tail -f) runs for 3 s; exit 124 then is success. A command put in the
# background gets 2 s to start, as a person typing the next line would give it.
. "$SPACEFS_SOURCE_DIR/tests/fs/lib.sh"
require_fuse
hub_start --boot-seconds 1
SRC=$SPACEFS_SOURCE_DIR

# The skip list: command text -> why it cannot run here, and what covers it instead.
declare -A SKIP=(
  ["./dev demo"]="builds and runs tests/demo.sh; docs.demo runs that script"
  ["./dev test"]="this test is part of ./dev test"
  ["./dev bench"]="the benchmarks take minutes to half an hour (label bench, never in ./dev test); bench.suite is what they run"
  ["ctest --test-dir build -R bench.suite -V"]="a benchmark run of half an hour (label bench)"
  ["BENCH_QUICK=1 ctest --test-dir build -R bench.suite -V"]="a benchmark run of minutes (label bench); the suite's quick mode is what ./dev bench users run by hand"
  ["./dev build"]="the build under test is what ./dev build makes (ctest runs from it)"
  ["(cd build && cpack -G DEB)"]="package.deb (./dev package) builds the .deb with cpack"
  ["sudo apt-get install ./build/spacefs_0.1.0_amd64.deb"]="package.deb installs the same .deb with dpkg -i (apt-get would also reach the network)"
  ["hf auth login"]="huggingface_hub's CLI is not installed (no pip); the test writes ~/.cache/huggingface/token as it does, mode 0600"
  ["systemctl --user daemon-reload"]="systemd is not running here; fs.helpers runs every unit's commands"
  ["systemctl --user enable --now spacefs@main"]="systemd is not running here; fs.helpers runs spacefs@.service's ExecStart/ExecStop"
  ["spacefs  /home/alice/hf  fuse.spacefs  noauto,user,_netdev,token_file=/home/alice/.cache/huggingface/token,ttl=5  0  0"]="mount(8) runs mount.fuse3 with its own PATH and spacefs is not installed here; package.deb mounts this line (mount -T) with the installed /usr/bin/spacefs"
  ["journalctl --user -u spacefs@main"]="systemd is not running here (no journal)"
  ["systemctl enable --now spacefs-system@svc"]="systemd is not running here; fs.helpers runs spacefs-system@.service's commands"
  ["systemctl --user enable --now spacefs-ping@\$(systemd-escape alice/chat).timer"]="systemd is not running here; fs.helpers runs spacefs-ping@.service"
  ["systemctl --user enable --now spacefs-restart@\$(systemd-escape alice/chat).timer"]="systemd is not running here; fs.helpers runs spacefs-restart@.service"
  ["systemctl --user enable --now spacefs-backup@\$(systemd-escape alice/chat).timer"]="systemd is not running here; fs.helpers runs spacefs-backup@.service"
)

# the scratch world
CWD="$WORK/cwd" H="$WORK/home" BIN="$WORK/bin"
mkdir -p "$CWD" "$H/.cache/huggingface" "$BIN" "$WORK/destdir"
for d in tests docs mount-helpers; do ln -s "$SRC/$d" "$CWD/$d"; done
ln -s "$SPACEFS_BUILD_DIR" "$CWD/build"
ln -s "$SPACEFS" "$BIN/spacefs"
for f in spacefs-sync spacefs-restart-wait; do ln -s "$SRC/mount-helpers/$f" "$BIN/$f"; done
printf '%s\n' "$TOKEN" >"$H/.cache/huggingface/token"
chmod 600 "$H/.cache/huggingface/token"
python3 -c 'import sqlite3; db = sqlite3.connect("'"$CWD"'/app.db"); db.execute("create table t (x)"); db.commit()'
mkdir -p "$CWD/db" "$CWD/backup"
echo "rows" >"$CWD/db/data.txt"
echo "old" >"$CWD/backup/old.txt"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
PORT_TLS=$(free_port)

rewrite() {
  sed -e "s|/usr/local/bin/spacefs|spacefs|g; s|/usr/bin/spacefs|spacefs|g" \
    -e "s|/etc/spacefs|$WORK/etc/spacefs|g; s|/srv/spacefs|$WORK/srv|g; s|/home/alice|$H|g" \
    -e "s|hf/main/|hf/|g; s|--port 8088|--port $PORT|g; s|:8088|:$PORT|g" \
    -e "s|--port 8443|--port $PORT_TLS|g; s|:8443|:$PORT_TLS|g" \
    -e "s|^sudo cmake --install build\$|DESTDIR=$WORK/destdir cmake --install $SPACEFS_BUILD_DIR|"
}

# context: the docs' ~/hf, mounted the way the README does it (spacefs ~/hf)
ctx_mount() {
  (cd "$CWD" && env HOME="$H" HF_ENDPOINT="$HUB" PATH="$BIN:$PATH" spacefs "$H/hf" -o ttl=2 2>>"$WORK/spacefs.err")
  for _ in $(seq 600); do grep -q " $H/hf fuse.spacefs " /proc/mounts && return 0; sleep 0.1; done
  return 1
}
# unmount whatever a block left mounted below the scratch dir, and wait for the daemons to exit
cleanup_mounts() {
  local m pids
  pids=$(pgrep -f "spacefs .*$WORK" || true)
  for m in $(awk -v w="$WORK" '$2 ~ "^"w && $3 == "fuse.spacefs" {print $2}' /proc/mounts); do
    fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"
  done
  for p in $pids; do
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
}
at_exit cleanup_mounts

python3 "$SRC/tests/docs/extract.py" "$SRC/README.md" "$SRC"/docs/*.md "$SRC/docs/spacefs.1" \
  "$SRC/mount-helpers/README.md" >"$WORK/commands.jsonl"
check "commands extracted" test -s "$WORK/commands.jsonl"
while IFS=$'\t' read -r where kind; do
  fail "$where: a code fence without a language ($kind): tag it sh, console, fstab, crontab or text"
done < <(jq -r 'select(.kind == "untagged" or (.kind | startswith("unknown"))) | "\(.file | sub(".*/"; "")):\(.line)\t\(.kind)"' "$WORK/commands.jsonl")

# one bash per block
jq -r 'select(.kind == "sh" or .kind == "fstab") | "\(.file)\t\(.block)"' "$WORK/commands.jsonl" | uniq >"$WORK/blocks"
while IFS=$'\t' read -r file block; do
  name=${file#"$SRC/"}
  jq -c --arg f "$file" --argjson b "$block" 'select(.file == $f and .block == $b and (.kind == "sh" or .kind == "fstab"))' \
    "$WORK/commands.jsonl" >"$WORK/block.jsonl"
  own_mount=$(jq -r '.cmd' "$WORK/block.jsonl" | grep -c 'spacefs ~/hf')
  script="$WORK/block.sh"
  {
    echo "cd '$CWD'; export HOME='$H' HF_ENDPOINT='$HUB' PATH='$BIN:$PATH'"
    echo "export OPENAI_KEY='$SECRET_VALUE' KEY='$SECRET_VALUE' SVC_HF_TOKEN=\"\$(cat '$H/.cache/huggingface/token')\""
    echo "_rc() { echo \"\$1 \$2\" >>'$WORK/rcs'; }"
  } >"$script"
  : >"$WORK/rcs"
  n=0
  declare -A label=()
  while IFS= read -r obj; do
    n=$((n + 1))
    cmd=$(jq -r .cmd <<<"$obj") kind=$(jq -r .kind <<<"$obj") line=$(jq -r .line <<<"$obj")
    label[$n]="$name:$line: ${cmd//$TOKEN/<the demo token>}" # the fixture's token is the sentinel
    if [ -n "${SKIP[$cmd]:-}" ]; then
      echo "skip ${label[$n]}  -- ${SKIP[$cmd]}"
      unset "label[$n]"
      continue
    fi
    run=$(rewrite <<<"$cmd")
    if [ "$kind" = fstab ]; then
      mp=$(awk '{print $2}' <<<"$run")
      printf '%s\n' "$run" >"$WORK/fstab.$n"
      run="mkdir -p '$mp' && mount -T '$WORK/fstab.$n' '$mp' && cat '$mp/alice/chat/status' && fusermount3 -u '$mp'"
    elif [[ $run == *"tail -f"* ]]; then
      run="timeout 3 $run; r=\$?; [ \$r = 124 ] || [ \$r = 0 ]"
    fi
    if [[ $run == *"&" ]]; then
      printf '%s\n_rc %d $?; sleep 2\n' "$run" "$n" >>"$script"
    else
      printf '( %s\n) >>"%s" 2>&1 </dev/null; _rc %d $?\n' "$run" "$WORK/block.out" "$n" >>"$script"
    fi
  done <"$WORK/block.jsonl"
  echo 'kill $(jobs -p) 2>/dev/null; wait' >>"$script"
  [ ${#label[@]} -gt 0 ] || continue
  if [ "$own_mount" -eq 0 ]; then
    check "$name block $block: context mount at ~/hf" ctx_mount
  fi
  : >"$WORK/block.out"
  timeout 300 bash "$script" >>"$WORK/block.out" 2>&1
  failed=0
  for i in $(printf '%s\n' "${!label[@]}" | sort -n); do
    rc=$(awk -v i="$i" '$1 == i {print $2}' "$WORK/rcs")
    if [ "$rc" = 0 ]; then pass "${label[$i]}"; else
      fail "${label[$i]}" "exit ${rc:-never ran}"
      failed=1
    fi
  done
  [ $failed = 0 ] || sed 's/^/    | /' "$WORK/block.out" | tail -15
  unset label
  cleanup_mounts
done <"$WORK/blocks"
check_eq "the docs' persist/ changes reached the Hub" "rows" \
  "$(curl -sL -H "Authorization: Bearer $TOKEN" "$HUB/datasets/alice/chat-persist/resolve/main/db/data.txt")"
finish_fs
