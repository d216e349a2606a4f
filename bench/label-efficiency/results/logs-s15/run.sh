#!/bin/bash
# Session 15: knee 64 px fine-tuning runs (2,000 steps, threshold 0.8), logs here.
# usage: run.sh NAME ARGS...   (ARGS: --seed, --arms, --fractions, --encoder-dir and any extra flags)
# The job list, one "NAME ARGS..." per line, in the order run: jobs-knee.txt beside this script (the
# first three two at a time; the last three interleaved with PneumoniaMNIST jobs, two at a time);
#   xargs -P 2 -L 1 bench/label-efficiency/results/logs-s15/run.sh < bench/label-efficiency/results/logs-s15/jobs-knee.txt
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset knee --size 64 --width 16 --stem large --steps 2000 --threshold 0.8"
name=$1; shift
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C "$@" --out $R/knee64-2k-$name.jsonl > $R/logs-s15/$name.log 2>&1
