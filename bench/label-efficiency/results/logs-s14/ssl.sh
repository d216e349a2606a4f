#!/bin/bash
# Session 14: SimCLR recipes at 64 px, pretraining only (the encoder saved to .cache/bench-knee-enc14-NAME),
# then the linear probe of probe.ts on it (log: logs-s14/NAME.log, probe lines: logs-s14/NAME.probe.jsonl).
# usage: ssl.sh NAME SEED ARGS...   (ARGS: --ssl-steps and the --ssl-* recipe flags)
export XRAY_TF_THREADS=1
R=bench/label-efficiency/results
name=$1; seed=$2; shift 2
enc=.cache/bench-knee-enc14-$name
nice -n 19 pnpm exec tsx bench/label-efficiency/run.ts --dataset knee --size 64 --width 16 --stem large \
  --arms sslfm --fractions none --save-encoder $enc --seed $seed "$@" > $R/logs-s14/$name.log 2>&1 &&
nice -n 19 pnpm exec tsx bench/label-efficiency/probe.ts --dataset knee --size 64 --fractions 0.05,1 \
  --seed $seed $enc > $R/logs-s14/$name.probe.jsonl 2>> $R/logs-s14/$name.log
# runs, in order (session 14, 2026-11-28; two at a time on the 2 cores):
#   base-s0 0 --ssl-steps 300;  t01-s0 0 --ssl-steps 300 --ssl-temperature 0.1
#   crop07-s0 0 --ssl-steps 300 --ssl-crop-min 0.7;  t05-s0 0 --ssl-steps 300 --ssl-temperature 0.5
#   crop07-1k-s0 0 --ssl-steps 1000 --ssl-crop-min 0.7
