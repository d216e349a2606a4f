#!/bin/bash
# Runs the queue's lines (seed, encoder seed, extra args), keeping at most MAXP run.ts processes.
cd /work/main
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset knee --size 64 --width 16 --stem large --steps 2000 --threshold 0.8 --fractions 0.05"
MAXP=${MAXP:-4}
while read -r s e rest; do
  while [ "$(pgrep -f 'tsx/dist/cli.mjs bench/label-efficiency/run.ts' | wc -l)" -ge "$MAXP" ]; do sleep 20; done
  args=${rest//R\//$R/}
  name=$(basename "${args##*--out }" .jsonl)
  echo "$(date -u +%T) start s$s e$e $args" >> $R/logs-s10/queue.log
  nohup nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C --seed $s --arms sslfm --encoder-dir .cache/bench-knee-enc9-s$e $args > $R/logs-s10/$name.log 2>&1 &
  sleep 30
done < "$1"
