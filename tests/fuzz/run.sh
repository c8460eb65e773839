#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan + UBSan; CMake option MINIMAX_FUZZ) and fuzzes each
# file reader, starting from its seed corpus in tests/fuzz/corpus/<target>.
#
#   tests/fuzz/run.sh [-t SECONDS] [-j PARALLEL] [TARGET...]
#
# SECONDS per target (default 60); PARALLEL targets at a time (default: the number of CPUs); the
# targets default to all of them. Environment: MINIMAX_FUZZ_BUILD, the build directory (default
# build-fuzz); CXX, the compiler (default clang++-14).
#
# Fails (exit 1) when any target crashes, leaks, takes longer than 10 s on one input (a hang),
# allocates more than its limit in one call (out of proportion to an input of at most 8 KiB: 16 MiB,
# 64 MiB behind gzip, which may legitimately inflate 1032-fold) or exceeds 2 GiB in all. The input
# that did it is left as BUILD/fuzz-out/TARGET/{crash,leak,timeout,oom}-*, with the command that
# replays it; once fixed, copy it into the target's seed corpus as a regression. Inputs that found
# new coverage are kept in BUILD/fuzz-out/TARGET/corpus, not in the repository.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=60
parallel=$(nproc)
while getopts "t:j:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    j) parallel=$OPTARG ;;
    *) sed -n '2,9p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
all=(fuzz_idx fuzz_idx_gzip fuzz_cifar fuzz_npy fuzz_checkpoint fuzz_checkpoint_payload fuzz_config)
targets=("${@:-${all[@]}}")
build=${MINIMAX_FUZZ_BUILD:-build-fuzz}
out=$build/fuzz-out

echo "== fuzz: building ${#targets[@]} target(s) in $build"
start=$SECONDS
mkdir -p "$out"
# -O1 -g1, as CI's sanitizer build: about half the compile time of -O2 -g, file:line kept.
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="${CXX:-clang++-14}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DMINIMAX_FUZZ=ON -DMINIMAX_BUILD_TESTS=OFF -DMINIMAX_MPI=OFF > "$out/configure.log" ||
  { cat "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$parallel" --target "${targets[@]}"
echo "== fuzz: built in $((SECONDS - start)) s; fuzzing each target for $seconds s, $parallel at a time"

# Leaks are reported when a run ends and after inputs that allocated more than they freed; UB
# stops the run at once (the library is built with -fno-sanitize-recover=undefined).
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

fuzz() {
  local target=$1 limit=16
  [[ $target == fuzz_idx_gzip ]] && limit=64
  local dir=$out/$target
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  local dict=()
  [[ -f tests/fuzz/$target.dict ]] && dict=(-dict="tests/fuzz/$target.dict")
  "$build/bin/$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -malloc_limit_mb="$limit" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/" "${dict[@]}" "$dir/corpus" "tests/fuzz/corpus/$target" \
    > "$dir/log" 2>&1
}

start=$SECONDS
for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  (
    status=0
    fuzz "$target" || status=$?
    echo "$status" > "$out/$target.status"
  ) &
done
wait

failed=0
printf '%-26s %-8s %12s %8s\n' target result executions coverage
for target in "${targets[@]}"; do
  dir=$out/$target
  status=$(cat "$out/$target.status" 2>/dev/null || echo "?")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1) || true
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2) || true
  result=ok
  if [[ $status != 0 ]]; then
    result=FAILED
    failed=1
  fi
  printf '%-26s %-8s %12s %8s\n' "$target" "$result" "${runs:-?}" "${cov:-?}"
done
echo "== fuzz: fuzzing took $((SECONDS - start)) s"
if ((failed)); then
  for target in "${targets[@]}"; do
    [[ $(cat "$out/$target.status" 2>/dev/null) == 0 ]] && continue
    echo "== $target failed; the end of $out/$target/log:"
    tail -n 60 "$out/$target/log"
    for artifact in "$out/$target"/{crash,leak,timeout,oom,slow-unit}-*; do
      [[ -e $artifact ]] && echo "replay: $build/bin/$target $artifact"
    done
  done
  exit 1
fi
