#!/bin/bash
# How long hubd takes from launch to listening (the port file written), with a fresh state and the
# demo fixture, and again with that state kept. Prints the median and worst of N runs; the target
# is under a second. Run: ctest --test-dir build -L bench -R startup -V
. "$(dirname "$0")/../lib/hub.sh"
N=${N:-7}
measure() { # measure STATE_DIR_OR_EMPTY: prints ms
  local t0
  t0=$(date +%s%N)
  HUB_STATE=$1 hub_start
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
  hub_stop
}
fresh=() kept=()
for i in $(seq "$N"); do
  fresh+=("$(measure "$WORK/fresh$i")")
  kept+=("$(measure "$WORK/fresh$i")")
done
report() { # report LABEL values...
  local label=$1; shift
  local sorted
  sorted=$(printf '%s\n' "$@" | sort -n)
  printf '%-40s median %4d ms   worst %4d ms   (%d runs)\n' "$label" \
    "$(sed -n "$(( ($# + 1) / 2 ))p" <<<"$sorted")" "$(tail -n1 <<<"$sorted")" "$#"
}
report "hubd start-up, fresh state + fixture:" "${fresh[@]}"
report "hubd start-up, existing state:" "${kept[@]}"
worst=$(printf '%s\n' "${fresh[@]}" "${kept[@]}" | sort -n | tail -n1)
check "every start-up under 1000 ms (worst ${worst} ms)" test "$worst" -lt 1000
finish
