#!/usr/bin/env bash
# issue 15 checks on the device machine's 16 cores in one call: MQAR (V 8192, L 256, 64 pairs) with a 2-layer
# width-64 attention model (tied head), H3's associative recall at three learning rates, the no-mixer
# controls. Steps are sized from a short probe of each run's tokens/s so the cosine schedules end in time.
# Usage: device-checks.sh PACKDIR OUT SECONDS, where PACKDIR/cli15 holds the self-contained CLI (dotnet publish
# -r linux-x64 --self-contained of src/Reference.Cli) and PACKDIR/cli15/extra this script and the model JSONs
# attention-64-tied.json (as mqar64.json), no-mixer-64-tied.json (mqar64-none.json), h3-2layer.json and
# no-mixer-32.json (h3-none.json) of bench/models. SMOKE=1 swaps MQAR for a small version (plumbing check).
# The run of 2026-12-04 and its figures: bench/NOTES.md, "issue 15 checks on 16 cores".
set -u
d=$1; out=$2; secs=${3:-480}
ref=$d/cli15/reference; x=$d/cli15/extra; w=$(mktemp -d); t0=$(date +%s)
mq=(--task mqar --task-option vocab=8192 --task-option length=256 --task-option pairs=64 --task-option train=100000 --task-option test=500)
h3=(--task h3-recall --batch 32 --weight-decay 0.1 --eval-every 500 --micro-batches 1 --threads 1)
[ -n "${SMOKE:-}" ] && mq=(--task mqar --task-option vocab=256 --task-option length=64 --task-option pairs=8 --task-option train=2000 --task-option test=100)
tps() { awk '/tokens\/s/{v=$(NF-1)} END{print v+0}' $1; }
echo "start $(date -u) nproc $(nproc) load $(cat /proc/loadavg)" > $out/out.txt
$ref train "${mq[@]}" --model $x/mqar64.json --steps 20 --batch 64 --eval-every 0 --micro-batches 10 --threads 10 --out $w/pm > $w/pm.txt 2>&1 &
$ref train "${h3[@]}" --model $x/h3-2layer.json --steps 80 --out $w/ph > $w/ph.txt 2>&1 &
wait
pre=$(( $(date +%s) - t0 )); left=$(( secs - pre - 40 ))
mqs=$(awk -v t=$(tps $w/pm.txt) -v s=$left 'BEGIN{n=int(0.75*t*s/16384); print (n<50?50:n)}')
h3s=$(awk -v t=$(tps $w/ph.txt) -v s=$left 'BEGIN{n=int(0.85*t*s/1344/500)*500; print (n<500?500:n)}')
echo "probe took ${pre}s; mqar tokens/s $(tps $w/pm.txt) -> $mqs steps; h3 tokens/s $(tps $w/ph.txt) -> $h3s steps" >> $out/out.txt
T=$(( secs - pre ))
timeout $T $ref train "${mq[@]}" --model $x/mqar64.json --steps $mqs --batch 64 --lr ${MQ_LR:-3e-3} --weight-decay 0.1 --warmup 0.05 --eval-every $(( mqs / 5 )) --micro-batches 10 --threads 10 --out $w/mqar > $w/mqar.txt 2>&1 &
timeout $T $ref train "${mq[@]}" --model $x/mqar64-none.json --steps 100 --batch 64 --lr ${MQ_LR:-3e-3} --weight-decay 0.1 --warmup 0.05 --eval-every 50 --micro-batches 1 --threads 1 --out $w/mqar_none > $w/mqar_none.txt 2>&1 &
for v in "a 1e-3" "b 2e-3" "c 4e-3"; do set -- $v
  timeout $T $ref train "${h3[@]}" --model $x/h3-2layer.json --steps $h3s --lr $2 --out $w/h3$1 > $w/h3$1.txt 2>&1 &
done
timeout $T $ref train "${h3[@]}" --model $x/h3-none.json --steps 1000 --lr 1e-3 --out $w/h3_none > $w/h3_none.txt 2>&1 &
wait
echo "end $(date -u) after $(( $(date +%s) - t0 )) s, load $(cat /proc/loadavg)" >> $out/out.txt
for r in mqar mqar_none h3a h3b h3c h3_none; do
  { echo "== $r"; grep -v " lr .* tokens/s" $w/$r.txt | tail -25; grep "tokens/s" $w/$r.txt | tail -2; } >> $out/out.txt
  cp $w/$r/log.jsonl $out/$r.jsonl 2>/dev/null
done
