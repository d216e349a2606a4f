#!/bin/bash
# Session 14: PneumoniaMNIST, three seeds, 1,000 fine-tuning steps, threshold 0.8 (the product's
# default), width 8 as the first pneumonia table; one SimCLR encoder (300 steps) per seed.
# usage: pn.sh NAME ARGS...   (ARGS: --seed, --arms, --fractions and any extra flags)
# NAME starts with the step count (1k-, 2k-: --steps 2000 in ARGS). The job list, one "NAME ARGS..."
# per line, in the order run (two at a time, up to five while a second queue ran; FixMatch from
# scratch at 1%, 10% and 100% was dropped for time):
#   xargs -P 2 -L 1 bench/label-efficiency/results/logs-s14/pn.sh < bench/label-efficiency/results/logs-s14/jobs-pn.txt
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset pneumonia --width 8 --steps 1000 --threshold 0.8"
name=$1; shift
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C "$@" --out $R/pneumonia-$name.jsonl > $R/logs-s14/pn-$name.log 2>&1
