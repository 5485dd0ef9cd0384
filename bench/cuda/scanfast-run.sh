#!/bin/bash
# Scan variant 10 (SelectiveScanWarpKernel.ScanPairedFast: one-instruction exponentials, 16-byte loads of whole
# windows, a cheaper softplus) against the default 5 on the GPU machine in one device call: the scan alone per variant
# in interleaved processes, ncu of both kernels, their PTX and (where the machine has ptxas and cuobjdump) SASS, the
# golden set with variant 10 and the CUDA test classes. Run from the checkout's root with the publish of
# bench/cuda/README.md packed as .devcarry/cuda.tgz, carrying .devcarry/cuda.tgz; results go to $OUT.
# usage: bash bench/cuda/scanfast-run.sh [full]   (full: also the whole bench, every kernel and variant, and PyTorch.)
mode=${1:-scan}
set -o pipefail
mkdir -p .devcarry/x && tar xzf .devcarry/cuda.tgz -C .devcarry/x
B=.devcarry/x/cuda; export REFERENCE_ACCELERATOR=cuda
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee $OUT/smi.txt
# One process per timing, interleaved, so a drift of the card shows as a spread of the repeated variants.
for v in 5 10 5 10 10 5 5 10; do $B/Reference.Cuda.Bench scan $v; done 2>&1 | grep -E "RESULT|device" | tee $OUT/scan.log
# The scan mode launches once to compile, then 20 timed launches: skip 1, profile 1.
for v in 10 5; do
  k=$([ $v = 10 ] && echo ScanPairedFast || echo ScanPairedVector)
  ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight --section WarpStateStats \
    --section InstructionStats --section SchedulerStats --section ComputeWorkloadAnalysis -k regex:$k -s 1 -c 1 \
    $B/Reference.Cuda.Bench scan $v > $OUT/ncu_scan$v.txt 2>&1
done
# The PTX ILGPU generates (the same as on this machine) and, where the toolkit is there, ptxas's SASS of it.
PTXAS=$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null | head -1)
OBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda/bin/cuobjdump 2>/dev/null | head -1)
for v in 5 10; do
  $B/Reference.Cuda.Bench ptx $v > $OUT/scan$v.ptx
  if [ -n "$PTXAS" ] && [ -n "$OBJDUMP" ]; then
    "$PTXAS" -arch=sm_90 -O3 -v $OUT/scan$v.ptx -o $OUT/scan$v.cubin > $OUT/ptxas$v.txt 2>&1
    "$OBJDUMP" -sass $OUT/scan$v.cubin > $OUT/scan$v.sass 2>&1
    echo "variant $v: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' $OUT/scan$v.sass) SASS instructions," \
      "$(grep -c 'MUFU.EX2' $OUT/scan$v.sass) MUFU.EX2, $(grep -cE 'STL|LDL' $OUT/scan$v.sass) local accesses" | tee -a $OUT/sass.log
    rm -f $OUT/scan$v.cubin
  fi
done
if [ "$mode" = full ]; then
  $B/Reference.Cuda.Bench 2>&1 | tee $OUT/bench.log
  PYTHONUNBUFFERED=1 python3 bench/cuda/torch_bench.py 2>&1 | tee $OUT/torch.log
fi
{ $B/Reference.Cuda.Bench golden golden cuda 10 | tail -2; $B/Reference.Cuda.Bench golden golden cuda 5 | tail -2; } 2>&1 | tee $OUT/golden.log
$B/Reference.SpecTests -class Reference.SpecTests.Cuda.BackendParityTests -class Reference.SpecTests.Cuda.CudaGoldenSetTests \
  -class Reference.SpecTests.Cuda.ScanPtxTests 2>&1 | tail -30 > $OUT/tests.log
cat $OUT/scan.log $OUT/golden.log $OUT/sass.log 2>/dev/null; tail -3 $OUT/tests.log
grep -E "Kernel_|Registers Per|Executed Instructions  |Local Memory Spilling Req|Duration|Issue Slots Busy|Executed Ipc Active|Achieved Occ|Warp Cycles Per Issued|Block Limit Reg|Stall" \
  $OUT/ncu_scan10.txt $OUT/ncu_scan5.txt
