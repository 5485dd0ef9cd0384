#!/bin/bash
# The segmented selective scan (GpuOps.WarpScanVariant 8 and 9) on the GPU machine in one device call: the scan
# alone per variant (5 the default, 6 the unsegmented sequential scan, 8 and 9 at the shape's segment length,
# then 8 and 9 over a sweep of segment lengths), ncu of both passes of 8, the golden set with 8 and 9, and the CUDA
# test classes. Run from the checkout's root with the publish of bench/cuda/README.md packed as .devcarry/cuda.tgz,
# carrying .devcarry; results go to $OUT. usage: bash bench/cuda/scanseg-run.sh [full]
# (full: also the whole bench, every kernel and variant, and bench/cuda/torch_bench.py.)
mode=${1:-scan}
set -o pipefail
mkdir -p .devcarry/x && tar xzf .devcarry/cuda.tgz -C .devcarry/x
B=.devcarry/x/cuda; export REFERENCE_ACCELERATOR=cuda
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee $OUT/smi.txt
# One process per timing, interleaved, so a drift of the card shows as a spread of the repeated variants.
for v in 5 6 8 9 5 8 9 6; do $B/Reference.Cuda.Bench scan $v; done 2>&1 | grep -E "RESULT|device" | tee $OUT/scan.log
for len in 128 256 512 1024; do
  $B/Reference.Cuda.Bench scan 8 $len; $B/Reference.Cuda.Bench scan 9 $len
done 2>&1 | grep RESULT | tee -a $OUT/scan.log
# Launches in order: warm-up (states, outputs), then 20 timed pairs; skip 4, so one states and one outputs launch.
ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight --section WarpStateStats \
  --section InstructionStats --section ComputeWorkloadAnalysis -k regex:Segment -s 4 -c 2 $B/Reference.Cuda.Bench scan 8 > $OUT/ncu_scan8.txt 2>&1
ncu --clock-control none --section LaunchStats --section Occupancy --section SpeedOfLight --section WarpStateStats \
  --section InstructionStats -k regex:Segment -s 4 -c 2 $B/Reference.Cuda.Bench scan 9 > $OUT/ncu_scan9.txt 2>&1
if [ "$mode" = full ]; then
  $B/Reference.Cuda.Bench 2>&1 | tee $OUT/bench.log
  PYTHONUNBUFFERED=1 python3 bench/cuda/torch_bench.py 2>&1 | tee $OUT/torch.log
fi
{ for v in 8 9; do $B/Reference.Cuda.Bench golden golden cuda $v | tail -2; done; $B/Reference.Cuda.Bench golden golden cuda64 | tail -2; } 2>&1 | tee $OUT/golden.log
$B/Reference.SpecTests -class Reference.SpecTests.Cuda.BackendParityTests -class Reference.SpecTests.Cuda.CudaGoldenSetTests 2>&1 | tail -30 > $OUT/tests.log
cat $OUT/scan.log $OUT/golden.log; tail -3 $OUT/tests.log
grep -E "SegmentStates|SegmentOutputs|Registers Per|Executed Instructions  |Local Memory Spilling Req|Duration|Issue Slots Busy|Achieved Occ|Warp Cycles Per Issued|Block Limit Reg" $OUT/ncu_scan8.txt $OUT/ncu_scan9.txt
