#!/usr/bin/env bash
# Builds the optional libtorch peer bench, weakens the GLIBCXX_3.4.32 requirement of the BUILT copy of
# libLibTorchSharp.so (weaken_glibcxx.py; every build copies the original from the NuGet cache again),
# and runs it with glibc's malloc kept from returning libtorch's freed buffers to the OS (otherwise each
# torch.matmul output is a fresh mmap and pays the first-touch page faults, issue 23) and the JIT at
# full optimization from the start. Arguments go to the bench: [--repeats N] [--sizes 1024,256] [--threads 1,2].
# TORCHPEER_QUIET=1 runs the bench in its own scheduler autogroup at nice -19 (as the "quiet" runs of bench/NOTES.md,
# gemm6/gemm7), so that on the shared 2-core machine both of its threads mostly get a core: the figures then compare
# the two GEMMs rather than how each copes with being descheduled.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dotnet build -c Release "$here" -v q -nologo >&2
out="$here/bin/Release/net10.0"
python3 "$here/weaken_glibcxx.py" "$out/runtimes/linux-x64/native/libLibTorchSharp.so" >&2
echo "uptime: $(uptime)"
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 DOTNET_TieredCompilation=0
if [ "${TORCHPEER_QUIET:-0}" = 1 ]; then
  echo "quiet: own autogroup at nice -19"
  setsid sh -c 'echo -19 > /proc/self/autogroup && exec "$@"' sh dotnet "$out/Reference.TorchPeer.dll" "$@"
else
  dotnet "$out/Reference.TorchPeer.dll" "$@"
fi
echo "uptime: $(uptime)"
