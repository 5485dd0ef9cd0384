#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers (issue 22) with SharpFuzz 2.3.0 and AFL++.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]   fuzz each target for SECONDS (default 3600) under afl-fuzz
#   bench/fuzz.sh --replay [TARGET...]    replay the seed corpus and every finding, no AFL (CI smoke)
#   FUZZ_PARALLEL=1 bench/fuzz.sh ...     run the targets at once (each afl-fuzz unpinned, at nice 19, so
#                                         they share whatever CPU the machine leaves idle)
#
# Targets: npy npz safetensors manifest index nifti cli (bench/Reference.Fuzz/FuzzTargets.cs). Seeds are in
# bench/Reference.Fuzz/corpus/TARGET/; AFL's output goes to bench/Reference.Fuzz/findings/TARGET/
# (not committed). The nifti seeds are hand-built headers (NIfTI-1 int16, scaled float32 4D, big-endian
# float64, gzip int32, NIfTI-2 float32) plus two small files of nibabel 5.0's test data (standard.nii.gz,
# row_major.dconn.nii; MIT licence); the cli seeds are a first line of arguments, then a file's bytes.
# A crash or hang found there is a finding: copy it into corpus/TARGET/ with a name saying
# what it was, fix the parser, and the replay keeps it fixed. After each run the script prints
# AFL's executions, paths and crashes from fuzzer_stats.
# Needs: afl-fuzz (Debian package afl++) for fuzzing; the sharpfuzz tool (dotnet tool restore).
set -euo pipefail
cd "$(dirname "$0")/.."
here=bench/Reference.Fuzz
all_targets=(npy npz safetensors manifest index nifti cli)

if [[ "${1:-}" == "--replay" ]]; then
  shift
  targets=("${@:-${all_targets[@]}}")
  [[ $# -gt 0 ]] || targets=("${all_targets[@]}")
  dotnet build "$here" -c Release -o "$here/bin/replay" >/dev/null
  status=0
  for t in "${targets[@]}"; do
    dirs=("$here/corpus/$t")
    for d in "$here/findings/$t/default/crashes" "$here/findings/$t/default/hangs"; do [[ -d "$d" ]] && dirs+=("$d"); done
    dotnet "$here/bin/replay/reference-fuzz.dll" "$t" --replay "${dirs[@]}" || status=1
  done
  exit $status
fi

seconds=3600
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
targets=("$@")
[[ $# -gt 0 ]] || targets=("${all_targets[@]}")
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found (apt-get install afl++)"; exit 4; }

out="$here/bin/fuzz"
rm -rf "$out"
dotnet publish "$here" -c Release -o "$out" >/dev/null
dotnet tool restore >/dev/null
# Instrument the assemblies under test (not the harness, not the runtime): SharpFuzz rewrites them
# to report branch coverage to AFL's shared memory.
for dll in Reference.Core.dll Reference.Golden.dll Reference.Neuro.dll reference.dll; do dotnet sharpfuzz "$out/$dll"; done

fuzz_one() {
  local t=$1 findings="$here/findings/$1"
  mkdir -p "$findings"
  # -t: per-input timeout in ms (.NET start-up is outside it: SharpFuzz's loop is persistent); -m none: the
  # CLR reserves far more virtual memory than AFL's default limit; the parsers' own budgets bound real use.
  AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    $nice afl-fuzz -V "$seconds" -t 5000 -m none -i "$here/corpus/$t" -o "$findings" -- dotnet "$out/reference-fuzz.dll" "$t" >"$findings/afl.log" 2>&1 || true
  stats="$findings/default/fuzzer_stats"
  if [[ -f "$stats" ]]; then
    echo "$t: $(grep -E '^(execs_done|corpus_count|saved_crashes|saved_hangs|bitmap_cvg|run_time) ' "$stats" | awk '{printf "%s=%s ", $1, $3}')"
  else
    echo "$t: afl-fuzz did not start; see $findings/afl.log"; tail -5 "$findings/afl.log"
  fi
}

nice=""
if [[ "${FUZZ_PARALLEL:-0}" == 1 ]]; then
  # More fuzzers than cores: AFL's default pins each to a free core and refuses to start without one.
  export AFL_NO_AFFINITY=1
  nice="nice -n 19"
  for t in "${targets[@]}"; do fuzz_one "$t" & done
  wait
else
  for t in "${targets[@]}"; do fuzz_one "$t"; done
fi
