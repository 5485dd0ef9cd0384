#!/usr/bin/env bash
# Issue 15's H3 check (associative recall at H3's settings: V 20, 20 pairs, L 42, 5,000 / 500, batch 32) on the
# device machine's 16 cores in one call: 14 runs at 1 thread each, the official recipe (HazyResearch/safari
# configs/experiment/synthetics/associative_recall: AdamW 5e-4, wd 0.1, linear warm-up 10 % then linear decay,
# SSM dynamics at min(1e-3, lr) without decay, embedding dropout 0.1, safari init, no clipping) at four rates and
# with one factor reverted, and the project's earlier recipe at four rates and with one official factor added. Steps are sized from a contended probe (all 14 at once) so the schedules end in time.
# Usage: device-h3recipe.sh PACKDIR OUT SECONDS, PACKDIR/h3r holding the self-contained CLI (bench tools'
# device-pack.sh of src/Reference.Cli) and PACKDIR/h3r/extra this script, h3-recall.json and h3-2layer.json.
set -u
d=$1; out=$2; secs=${3:-520}
ref=$d/h3r/reference; x=$d/h3r/extra; w=$(mktemp -d); t0=$(date +%s)
sed 's/"embedding_dropout": 0.1/"embedding_dropout": 0.0/' $x/h3-recall.json > $w/nodrop.json
sed 's/"init": "safari"/"init": "pytorch"/' $x/h3-recall.json > $w/pytinit.json
sed 's/"tied_head": true/"tied_head": true, "embedding_dropout": 0.1/' $x/h3-2layer.json > $w/olddrop.json
base=(--task h3-recall --batch 32 --eval-every 500 --micro-batches 1 --threads 1)
off=(--weight-decay 0.1 --decay linear --clip 0 --warmup 0.1); rec="--model $x/h3-recall.json"
old=(--weight-decay 0.1 --decay cosine --clip 1 --ssm-lr none --ssm-weight-decay none)
# name | options after the common ones. off_*: the official recipe (only lr changed); old_*: this project's earlier
# recipe (one AdamW group, cosine, clip 1, PyTorch init, no dropout); *_x: one factor of the other recipe changed.
variants=(
  "off_5e-4|$rec ${off[*]} --lr 5e-4"
  "off_1e-3|$rec ${off[*]} --lr 1e-3"
  "off_2e-3|$rec ${off[*]} --lr 2e-3"
  "off_3e-3|$rec ${off[*]} --lr 3e-3"
  "off_2e-3_nodrop|${off[*]} --lr 2e-3 --model $w/nodrop.json"
  "off_2e-3_pytinit|${off[*]} --lr 2e-3 --model $w/pytinit.json"
  "off_2e-3_ssmnone|$rec ${off[*]} --lr 2e-3 --ssm-lr none --ssm-weight-decay none"
  "old_1e-3|--model $x/h3-2layer.json ${old[*]} --lr 1e-3"
  "old_2e-3|--model $x/h3-2layer.json ${old[*]} --lr 2e-3"
  "old_3e-3|--model $x/h3-2layer.json ${old[*]} --lr 3e-3"
  "old_5e-3|--model $x/h3-2layer.json ${old[*]} --lr 5e-3"
  "old_2e-3_flat|--model $x/h3-2layer.json ${old[*]} --lr 2e-3 --min-lr-ratio 1"
  "old_2e-3_drop|--model $w/olddrop.json ${old[*]} --lr 2e-3"
  "old_2e-3_ssm|--model $x/h3-2layer.json --weight-decay 0.1 --decay cosine --clip 1 --lr 2e-3"
)
[ -n "${ONLY:-}" ] && variants=("${variants[@]:0:$ONLY}")
echo "start $(date -u) nproc $(nproc) load $(cat /proc/loadavg)" > $out/out.txt
tps() { awk '/tokens\/s/{v=$(NF-1)} END{print v+0}' $1; }
# DRY=1: no probe, 2 steps each (a check that every variant's options parse).
[ -n "${DRY:-}" ] && variants=("${variants[@]}") && probes=0 || probes=${#variants[@]}
i=0; for v in "${variants[@]:0:$probes}"; do i=$((i+1))
  $ref train --task h3-recall --batch 32 --micro-batches 1 --threads 1 --model $x/h3-recall.json --steps 80 --eval-every 0 --out $w/probe$i > $w/probe$i.txt 2>&1 &
done; wait
pre=$(( $(date +%s) - t0 )); left=$(( secs - pre - 30 ))
rate=$(for f in $w/probe*.txt; do tps $f; done | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
steps=$(awk -v t=$rate -v s=$left 'BEGIN{n=int(0.85*t*s/1344/500)*500; print (n<500?500:n)}')
[ -n "${DRY:-}" ] && steps=2
echo "probe took ${pre}s; median contended tokens/s $rate -> $steps steps each" >> $out/out.txt
T=$(( secs - pre ))
for v in "${variants[@]}"; do n=${v%%|*}; o=${v#*|}
  timeout $T $ref train "${base[@]}" $o --steps $steps --out $w/$n > $w/$n.txt 2>&1 &
done; wait
echo "end $(date -u) after $(( $(date +%s) - t0 )) s, load $(cat /proc/loadavg)" >> $out/out.txt
for v in "${variants[@]}"; do n=${v%%|*}; o=${v#*|}
  { echo "== $n: $o"; grep " eval " $w/$n.txt | awk '{printf "%s:%s/%s ", $2, $7, $5}'; echo; grep -v " lr .* tokens/s" $w/$n.txt | grep -v " eval " | tail -3; grep "tokens/s" $w/$n.txt | tail -1; } >> $out/out.txt
  [ -f $w/$n/log.jsonl ] && grep test_loss $w/$n/log.jsonl | sed "s/^/$n /" >> $out/evals.txt
done
