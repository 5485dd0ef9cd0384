#!/usr/bin/env bash
# Mutation testing of the naive (definition) tier with Stryker.NET 5.1 (not part of CI).
#
# Usage:  bench/mutation.sh FAMILY [FILE]
#   FAMILY  convolution | statespace | attention | recurrence | ess
#   FILE    optional: mutate only this file of the family (a path or a file name, e.g. H3.cs),
#           or several, comma-separated (SelectiveScan.cs,MambaBlock.cs)
#   env     STRYKER_CONCURRENCY (default 1), STRYKER_NICE (default 10), STRYKER_TESTS (test classes
#           of the family's namespace to run, comma-separated; default all of them + RegistryTests),
#           STRYKER_EXTRA (extra stryker arguments, e.g. "--mutation-level Basic")
#
# Examples:
#   bench/mutation.sh recurrence
#   bench/mutation.sh statespace ShiftSsm.cs
#   bench/mutation.sh --table mutation-output/ess-20260101T000000/reports/mutation-report.json
#
# What it does: runs `dotnet stryker` in solution context (the test project references Core and Cli
# only, and Stryker 5.1 looks for the mutated project among the direct references of a test
# project, so it must be given the solution and `-p`), with the Microsoft Testing Platform runner
# (`--test-runner mtp`; xunit.v3 is an MTP test application), mutating only the naive files of the
# family (fast-tier files excluded) and running only the tests of that family's test namespace
# (`--test-case-filter FullyQualifiedName~...`). Reports (JSON + HTML) go to
# mutation-output/FAMILY[-FILE]-TIMESTAMP/reports/ (gitignored); at the end a per-file score table
# and the list of surviving / uncovered mutants are printed from the JSON report.
# Cost on a 2-core machine: ~1 min analysis + ~3 min solution build + ~2 min mutant compilation and
# initial test run, then the mutants; see bench/MUTATION.md for measured times.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

table() { python3 "$here/mutation_table.py" "$@"; }

if [[ "${1:-}" == "--table" ]]; then shift; table "$@"; exit 0; fi
if [[ $# -lt 1 || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2
fi

family="$1"; file="${2:-}"
ops="src/Reference.Operators"
case "$family" in
  convolution)
    project=Reference.Operators.csproj; ns=Reference.SpecTests.Operators.Convolution.
    mutate=("$ops/Convolution/*.cs" "!$ops/Convolution/*.Fast.cs") ;;
  statespace)
    project=Reference.Operators.csproj; ns=Reference.SpecTests.Operators.StateSpace.
    mutate=("$ops/StateSpace/*.cs" "!$ops/StateSpace/*.Fast.cs") ;;
  attention)
    project=Reference.Operators.csproj; ns=Reference.SpecTests.Operators.Attention.
    mutate=("$ops/Attention/*.cs" "!$ops/Attention/*.Fast*.cs" "!$ops/Attention/FlashAttentionKernel.cs"
            "!$ops/Attention/TileGemm.cs") ;;
  recurrence)
    project=Reference.Operators.csproj; ns=Reference.SpecTests.Operators.Recurrence.
    mutate=("$ops/Recurrence/*.cs" "!$ops/Recurrence/ChunkKernels.cs" "!$ops/Recurrence/StateKernels.cs"
            "!$ops/Recurrence/GatedLinearAttentionChunkedFast.cs") ;;
  ess)
    # SingularValues.cs is the threaded fast SVD; NaiveSingularValues.cs is the definition.
    project=Reference.Ess.csproj; ns=Reference.SpecTests.Ess.
    mutate=("src/Reference.Ess/*.cs" "!src/Reference.Ess/SingularValues.cs") ;;
  *) echo "unknown family '$family' (convolution | statespace | attention | recurrence | ess)" >&2; exit 2 ;;
esac
# Registry descriptors and their family helpers are glue around the definitions (checked by RegistryTests).
[[ "$family" == ess ]] || mutate+=("!$ops/*/*Descriptor*.cs" "!$ops/StateSpace/SelectiveSsmCases.cs")
# The registry tests hold every form of every operator to its definition: they run with every operator family.
filter="FullyQualifiedName~$ns"
[[ "$family" == ess ]] || filter="$filter|FullyQualifiedName~Reference.SpecTests.Operators.RegistryTests"
# STRYKER_TESTS narrows the tests to some classes of the family's namespace (comma-separated class
# names), which shortens Stryker's per-test coverage pass on a busy machine.
if [[ -n "${STRYKER_TESTS:-}" ]]; then
  filter=""
  IFS=',' read -ra classes <<< "$STRYKER_TESTS"
  for c in "${classes[@]}"; do filter="${filter:+$filter|}FullyQualifiedName~$ns$c."; done
fi

tag="$family"
if [[ -n "$file" ]]; then
  dir="$(dirname "${mutate[0]}")"
  mutate=(); tag="$family"
  IFS=',' read -ra files <<< "$file"
  for f in "${files[@]}"; do
    base="$(basename "$f")"
    [[ -f "$root/$dir/$base" ]] || { echo "no file $dir/$base" >&2; exit 2; }
    mutate+=("$dir/$base"); tag="$tag-${base%.cs}"
  done
fi

out="$root/mutation-output/$tag-$(date -u +%Y%m%dT%H%M%S)"
args=(stryker -s Reference.sln -p "$project" --test-runner mtp
      --test-case-filter "$filter"
      --configuration Release -c "${STRYKER_CONCURRENCY:-1}" --skip-version-check
      -r Json -r Html -r Progress -O "$out")
# Stryker matches -m globs against paths inside the mutated project: strip the project folder.
for m in "${mutate[@]}"; do
  neg=""; [[ "$m" == '!'* ]] && { neg='!'; m="${m#!}"; }
  rel="${m#src/Reference.Operators/}"; rel="${rel#src/Reference.Ess/}"
  args+=(-m "$neg**/$rel")
done
# shellcheck disable=SC2206
args+=(${STRYKER_EXTRA:-})

cd "$root"
dotnet tool restore >/dev/null
mkdir -p "$out"
echo "commit $(git rev-parse --short HEAD)  $(date -u +%FT%TZ)" | tee "$out/run.txt"
echo "dotnet ${args[*]}" | tee -a "$out/run.txt"
start=$(date +%s)
nice -n "${STRYKER_NICE:-10}" dotnet "${args[@]}" 2>&1 | tee "$out/stryker.log" | grep -E '^\[[0-9:]+ (INF|WRN|ERR)\]' || true
echo "elapsed $(( $(date +%s) - start )) s" | tee -a "$out/run.txt"
table "$out/reports/mutation-report.json" | tee "$out/table.txt"
