#!/bin/bash
# Session 14: knee 64 px fine-tuning runs from the logs-s14 encoders (2,000 steps, threshold 0.8).
# usage: run.sh NAME ARGS...   (ARGS: --seed, --arms, --fractions, --encoder-dir and any extra flags)
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset knee --size 64 --width 16 --stem large --steps 2000 --threshold 0.8"
name=$1; shift
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C "$@" --out $R/knee64-2k-$name.jsonl > $R/logs-s14/$name.log 2>&1
# runs (session 14, 2026-11-28):
#   s0-sslfm-t08-crop07-1k: --seed 0 --arms sslfm --fractions 0.05 --encoder-dir .cache/bench-knee-enc14-crop07-1k-s0
