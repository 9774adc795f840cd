#!/bin/bash
# The builds packagers and contributors make that the sanitizer build does not: gcc at -O3
# (CMAKE_BUILD_TYPE=Release; its flow analysis warns where -O0/-O2 do not, and -Werror turns
# that into a failed build) and clang (its own warnings, and the libFuzzer target of the parsers,
# run for a few seconds). Build directories are kept between runs, so rebuilds are incremental.
. "$SPACEFS_SOURCE_DIR/tests/lib/hub.sh"

build_with() { # name cc build_type target...
  local name=$1 cc=$2 type=$3 dir="$SPACEFS_BUILD_DIR/build-$1" t0
  shift 3
  t0=$(date +%s%N)
  if CC=$cc cmake -S "$SPACEFS_SOURCE_DIR" -B "$dir" -DCMAKE_BUILD_TYPE="$type" >"$WORK/$name.out" 2>&1 &&
    cmake --build "$dir" -j "$(nproc)" --target "$@" >>"$WORK/$name.out" 2>&1; then
    echo "$name: built ${*} in $((($(date +%s%N) - t0) / 1000000)) ms"
    return 0
  fi
  grep -E 'error|warning' "$WORK/$name.out" | head -20
  return 1
}

# check_build NAME CC TYPE TARGET...: like check, but shows the compiler's complaint
check_build() {
  local what=$1; shift
  if build_with "$@"; then pass "$what"; else fail "$what" "see the compiler output above"; fi
}
check_build "gcc -O3 (Release) builds spacefs with warnings as errors" gcc-release gcc Release spacefs
if command -v clang >/dev/null; then
  check_build "clang (Release) builds every target with warnings as errors" clang-release clang Release all
  FUZZ="$SPACEFS_BUILD_DIR/build-clang-release/tests/client/client_fuzz_parse"
  if [ -x "$FUZZ" ]; then
    check "the parsers' libFuzzer target runs 10 s without a finding" \
      "$FUZZ" -max_total_time=10 -print_final_stats=0 >"$WORK/fuzz.out" 2>&1
  fi
else
  echo "SKIP part: clang is not installed (apt install clang), so the clang build is not checked"
fi
finish
