#!/bin/bash
# Session 13: the two untried ideas, three seeds at 64 px: a 2x wider encoder and SimSiam pretraining.
# usage: run.sh NAME ARGS...   (ARGS: --seed, --arms, --fractions, --width and any extra flags)
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset knee --size 64 --stem large --steps 2000 --threshold 0.8"
name=$1; shift
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C "$@" --out $R/knee64-2k-$name.jsonl > $R/logs-s13/$name.log 2>&1
# runs, in order (session 13, 2026-11-27; two processes on the 2 cores):
#   s0-w32-sslfm-t08: --seed 0 --width 32 --arms sslfm --fractions 0.05 --ssl-steps 300 --save-encoder .cache/bench-knee-enc13w32-s0
#   s0-w32-sup:       --seed 0 --width 32 --arms sup --fractions 1
#   s0-simsiam-t08:   --seed 0 --width 16 --arms sslfm --fractions 0.05 --ssl-steps 300 --ssl-method simsiam --save-encoder .cache/bench-knee-enc13ss-s0
#   s1-simsiam-t08: as s0-simsiam-t08 with --seed 1 (--save-encoder .cache/bench-knee-enc13ss-s1)
#   then width 32 for seeds 1 and 2 (s = 1, 2), and SimSiam seed 2:
#   s$s-w32-sslfm-t08: --seed $s --width 32 --arms sslfm --fractions 0.05 --ssl-steps 300 --save-encoder .cache/bench-knee-enc13w32-s$s
#   s$s-w32-sup:       --seed $s --width 32 --arms sup --fractions 1
#   s2-simsiam-t08:    as s0-simsiam-t08 with --seed 2 (--save-encoder .cache/bench-knee-enc13ss-s2)
