#!/usr/bin/env bash
# Speed of the wasm training path vs the same network in PyTorch on CPU, measured in one run.
#   bash bench/ml-speed/run.sh            (env: SIZES=64,128 BATCH=16 STEPS=3 WARMUP=1 VARIANTS="fast" THREADS="2 1")
# VARIANTS="fast builtin" adds the backend's own Conv2DBackpropInput; THREADS lists the wasm thread
# counts (the product default is every core).
# Needs Debian's python3-torch (apt-get install -y python3-torch), a benchmark-only dependency.
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZES=${SIZES:-64,128}
BATCH=${BATCH:-16}
STEPS=${STEPS:-3}
WARMUP=${WARMUP:-1}
VARIANTS=${VARIANTS:-"fast"}
THREADS=${THREADS:-"$(nproc) 1"}
# Raw JSON lines are kept (OUT=path) so a table can be reprinted without rerunning.
out=${OUT:-bench/ml-speed/results/last.jsonl}
mkdir -p "$(dirname "$out")"
: >"$out"
echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD) $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# What else is using the CPU when we start (other jobs' priority shown as NI).
ps -eo ni,pcpu,etime,args --sort=-pcpu | sed -n '1,4p' | cut -c1-120 | sed 's/^/#   /' >&2
# PyTorch gets all cores and the allocator settings without which glibc page-faults every batch.
MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824 \
  /usr/bin/python3 bench/ml-speed/torch_bench.py --sizes "$SIZES" --batch "$BATCH" --steps "$STEPS" \
  --warmup "$WARMUP" --threads "$(nproc)" >>"$out"
for variant in $VARIANTS; do
  for threads in $THREADS; do
    pnpm exec tsx bench/ml-speed/bench.ts --sizes "$SIZES" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" \
      --variant "$variant" --threads "$threads" 2>/dev/null | grep '^{' >>"$out"
  done
done
echo "# done $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
torch = {r["size"]: r for r in rows if r["impl"] == "pytorch-cpu"}
print("| size | impl | threads | train img/s | train ratio tfjs/pytorch | infer img/s | infer ratio |")
print("|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r["size"], r["impl"] != "pytorch-cpu", r["variant"], -r["threads"])):
    ref = torch.get(r["size"], {})
    def ratio(key):
        return f'{r[key] / ref[key]:.2f}' if key in r and key in ref and r["impl"] != "pytorch-cpu" else "-"
    kernel = "our" if r.get("variant") == "fast" else "backend's own"
    name = r["impl"] if r["impl"] == "pytorch-cpu" else f"tfjs-wasm ({kernel} Conv2DBackpropInput)"
    print(f'| {r["size"]} | {name} | {r["threads"]} | {r.get("train_img_s", 0):.1f} | {ratio("train_img_s")} | {r.get("infer_img_s", 0):.1f} | {ratio("infer_img_s")} |')
PY
