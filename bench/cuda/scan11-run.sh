#!/bin/bash
# Scan variants 11, 12 and 13 (SelectiveScanWarpKernel.ScanSplit: a channel's states over two warps, one state at a time;
# 11 the warp's 8 states written out, bound for four resident groups per multiprocessor (64 registers), 12 the same for
# three (85 registers), 13 a loop over the states for four) against the default 10 and against 5 on the GPU machine in
# one device call: the scan alone per variant in interleaved processes, ncu of the five kernels, their PTX and (where the
# machine has ptxas and cuobjdump) registers, spills and SASS counts, the golden set with 11, 12, 13 and 10 and the CUDA
# test classes. Run from the checkout's root with the publish of bench/cuda/README.md packed as .devcarry/cuda.tgz, carrying
# .devcarry/cuda.tgz; results go to $OUT (bench/NOTES.md, "scan11").
# usage: bash bench/cuda/scan11-run.sh [full]   (full: also the whole bench, every kernel and variant, and PyTorch.)
mode=${1:-scan}
set -o pipefail
mkdir -p .devcarry/x && tar xzf .devcarry/cuda.tgz -C .devcarry/x
B=.devcarry/x/cuda; export REFERENCE_ACCELERATOR=cuda
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee $OUT/smi.txt
# One process per timing, interleaved (each variant after each other one), so a drift of the card shows as a spread.
for v in 10 11 12 13 5 13 12 11 10 5 11 13 10 12 5 11 10; do $B/Reference.Cuda.Bench scan $v; done 2>&1 | grep -E "RESULT|device" | tee $OUT/scan.log
# The scan mode launches once to compile, then 20 timed launches: skip 1, profile 1.
kernel() { case $1 in 5) echo ScanPairedVector;; 10) echo ScanPairedFast;; *) echo ScanSplit;; esac; }
for v in 11 12 13 10 5; do
  ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight --section WarpStateStats \
    --section InstructionStats --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
    -k regex:$(kernel $v) -s 1 -c 1 $B/Reference.Cuda.Bench scan $v > $OUT/ncu_scan$v.txt 2>&1
done
# The PTX ILGPU generates (the same as on the development machine) and, where the toolkit is there, ptxas's registers,
# spills and SASS of it (the launch bounds are in the PTX: 64 registers for 11 and 13, 85 for 12, 128 for 10 and 5).
PTXAS=$(command -v ptxas || ls /usr/local/cuda/bin/ptxas 2>/dev/null | head -1)
OBJDUMP=$(command -v cuobjdump || ls /usr/local/cuda/bin/cuobjdump 2>/dev/null | head -1)
for v in 5 10 11 12 13; do
  $B/Reference.Cuda.Bench ptx $v > $OUT/scan$v.ptx
  if [ -n "$PTXAS" ] && [ -n "$OBJDUMP" ]; then
    "$PTXAS" -arch=sm_90 -O3 -v $OUT/scan$v.ptx -o $OUT/scan$v.cubin > $OUT/ptxas$v.txt 2>&1
    "$OBJDUMP" -sass $OUT/scan$v.cubin > $OUT/scan$v.sass 2>&1
    echo "variant $v: $(grep -cE '^\s+/\*[0-9a-f]{4}\*/' $OUT/scan$v.sass) SASS instructions," \
      "$(grep -c 'MUFU.EX2' $OUT/scan$v.sass) MUFU.EX2, $(grep -c 'SHFL' $OUT/scan$v.sass) SHFL," \
      "$(grep -cE 'STL|LDL' $OUT/scan$v.sass) local accesses; $(grep -E 'registers' $OUT/ptxas$v.txt | tail -1)" | tee -a $OUT/sass.log
    rm -f $OUT/scan$v.cubin
  fi
done
if [ "$mode" = full ]; then
  $B/Reference.Cuda.Bench 2>&1 | tee $OUT/bench.log
  PYTHONUNBUFFERED=1 python3 bench/cuda/torch_bench.py 2>&1 | tee $OUT/torch.log
fi
{ for v in 11 12 13 10; do $B/Reference.Cuda.Bench golden golden cuda $v | tail -2; done; } 2>&1 | tee $OUT/golden.log
$B/Reference.SpecTests -class Reference.SpecTests.Cuda.BackendParityTests -class Reference.SpecTests.Cuda.CudaGoldenSetTests \
  -class Reference.SpecTests.Cuda.ScanPtxTests 2>&1 | tail -30 > $OUT/tests.log
cat $OUT/scan.log $OUT/golden.log $OUT/sass.log 2>/dev/null; tail -3 $OUT/tests.log
grep -E "Kernel_|Registers Per|Executed Instructions  |Local Memory Spilling Req|Duration|Issue Slots Busy|Executed Ipc Active|Achieved Occ|Achieved Active Warps|Warp Cycles Per Issued|Block Limit Reg|Block Limit Shared|Stall" \
  $OUT/ncu_scan11.txt $OUT/ncu_scan12.txt $OUT/ncu_scan13.txt $OUT/ncu_scan10.txt $OUT/ncu_scan5.txt
