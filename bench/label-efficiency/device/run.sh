#!/bin/bash
# Device run: label-efficiency jobs (knee, or PneumoniaMNIST where pack.sh packed it), one single-threaded wasm process per physical core,
# in the priority order of the jobs file; every job is stopped at the shared deadline (BUDGET s).
# Env: OUT (results folder), JOBS (a jobs-*.txt beside this script: "name|run.ts flags" lines,
# ENC<seed> = that seed's packed SimCLR encoder), STEPS (fine-tuning steps, 500), BUDGET (s, 540),
# PAR (parallel jobs; default one per physical core), C (the flags every job shares; default the knee
# 64 px recipe below). Made by pack.sh; see the README beside it.
set -u
: "${OUT:?set OUT to a results folder}"
JOBS=$(realpath "${JOBS:?set JOBS to a jobs file}")
mkdir -p "$OUT"
P=$(cd "$(dirname "$0")" && pwd)
W=/tmp/w; mkdir -p $W/.cache/knee
python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('$P/node.xz'), open('/tmp/node','wb'))" && chmod +x /tmp/node
if [ -f $P/knee64.u8.xz ]; then
  mkdir -p /work/shared/data/knee-oa-128
  python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('$P/knee64.u8.xz'), open('$W/.cache/knee/$(cat $P/cache-name.txt)','wb'))"
  [ -f /work/shared/data/knee-oa-128/labels.csv ] || cp $P/labels.csv /work/shared/data/knee-oa-128/labels.csv
fi
if [ -f $P/pneumoniamnist.npz ]; then
  mkdir -p /work/shared/data/pneumoniamnist
  [ -f /work/shared/data/pneumoniamnist/pneumoniamnist.npz ] || cp $P/pneumoniamnist.npz /work/shared/data/pneumoniamnist/
fi
gunzip -c $P/le.mjs.gz > $W/le.mjs; cp -r $P/node_modules $W/
/tmp/node -v; lscpu | grep -iE "model name|^CPU\(s\)|thread|core|socket"; free -g | head -2
PHYS=$(lscpu -p=CORE,SOCKET | grep -v '^#' | sort -u | wc -l)
N=${PAR:-$PHYS}; echo "parallel jobs: $N"
export P W OUT
export C="${C:---dataset knee --size 64 --width 16 --stem large --steps ${STEPS:-500}}"
export DEADLINE=$(( $(date +%s) + ${BUDGET:-540} )) T0=$(date +%s)
job() {
  name=${1%%|*}; a=${1#*|}
  a=${a//ENC0/$P/enc-s0}; a=${a//ENC1/$P/enc-s1}; a=${a//ENC2/$P/enc-s2}
  left=$(( DEADLINE - $(date +%s) )); [ $left -lt 30 ] && { echo "$name skipped" >> $OUT/done.txt; return; }
  s=$(date +%s)
  XRAY_TF_THREADS=1 timeout $left /tmp/node $W/le.mjs $C $a --out $OUT/results.jsonl > $W/$name.log 2>&1
  echo "$name rc=$? start+$(( s - T0 ))s took $(( $(date +%s) - s ))s" >> $OUT/done.txt
}
export -f job
cd $W
grep -v '^$' "$JOBS" | tr '\n' '\0' | xargs -0 -P $N -I{} bash -c 'job "$@"' _ {}
uptime
tar czf $OUT/logs.tar.gz -C $W $(cd $W && ls *.log)
cat $OUT/done.txt
