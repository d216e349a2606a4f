#!/bin/bash
# Session 12: the knee gate at 128 px (the data's own resolution), seed 0 probe.
# usage: run128.sh NAME ARGS...   (ARGS: --seed, --arms, --fractions and any extra flags)
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset knee --size 128 --width 16 --stem large --steps 2000 --threshold 0.8"
name=$1; shift
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C "$@" --out $R/knee128-2k-$name.jsonl > $R/logs-s12/$name.log 2>&1
# runs, in order (session 12, 2026-11-27):
#   s0-sslfm-t08: --seed 0 --arms sslfm --fractions 0.05 --ssl-steps 300 --save-encoder .cache/bench-knee-enc128-s0
#   s0-sup:       --seed 0 --arms sup --fractions 1
#   s0-sslfm-t08-mixup05: --seed 0 --arms sslfm --fractions 0.05 --encoder-dir .cache/bench-knee-enc128-s0 --mixup 0.5
#   s0-sup5:      --seed 0 --arms sup --fractions 0.05
#   s1-sup:       --seed 1 --arms sup --fractions 1
