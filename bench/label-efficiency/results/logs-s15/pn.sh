#!/bin/bash
# Session 15: PneumoniaMNIST runs as logs-s14/pn.sh (three seeds, threshold 0.8, width 8; 1,000
# fine-tuning steps unless ARGS say --steps), logs here.
# usage: pn.sh NAME ARGS...   (ARGS: --seed, --arms, --fractions and any extra flags)
# NAME starts with the step count (1k-, 2k-). The job list, one "NAME ARGS..." per line, in the
# order run (two at a time):
#   xargs -P 2 -L 1 bench/label-efficiency/results/logs-s15/pn.sh < bench/label-efficiency/results/logs-s15/jobs-pn.txt
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
C="--dataset pneumonia --width 8 --steps 1000 --threshold 0.8"
name=$1; shift
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts $C "$@" --out $R/pneumonia-$name.jsonl > $R/logs-s15/pn-$name.log 2>&1
