#!/bin/bash
# Session 11: labelled-stream regularizers and lambda_u, SimCLR + FixMatch from the session-9 encoders.
# usage: queue.sh SEED NAME FLAGS...
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset knee --size 64 --width 16 --stem large --steps 2000 --threshold 0.8 --fractions 0.05"
s=$1; name=$2; shift 2
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C --seed $s --arms sslfm --encoder-dir .cache/bench-knee-enc9-s$s "$@" \
  --out $R/knee64-2k-s$s-sslfm-t08-$name.jsonl > $R/logs-s11/$name-s$s.log 2>&1
# runs, in order:
#   wave 1 (14:58-15:34 UTC): 0 lstrong --labelled-aug strong; 0 mixup05 --mixup 0.5; 0 lu2 --lambda-u 2;
#                             0 combo --labelled-aug strong --mixup 0.5 --lambda-u 2
#   wave 2 (15:36 UTC-): 1 mixup05 --mixup 0.5; 2 mixup05 --mixup 0.5; 0 mixup1 --mixup 1;
#                        0 mixup05-lu2 --mixup 0.5 --lambda-u 2; 0 base11 (no flags: the baseline after 627ca5e)
#   and supervised 100% with mixup, seed 0:
#   run.ts --dataset knee --size 64 --width 16 --stem large --steps 2000 --seed 0 --arms sup --fractions 1 --mixup 0.5 --out $R/knee64-2k-s0-sup-mixup05.jsonl
#   wave 3 (16:23 UTC-): 1 base11; 2 base11; 1 lu2 --lambda-u 2; 2 lu2 --lambda-u 2
