#!/bin/bash
# Packs the label-efficiency benchmark for a machine without this checkout's node_modules or
# ../shared (e.g. a lent many-core machine): one esbuild bundle of run.ts, the wasm binaries, a
# compressed Node binary, the dataset and the saved SimCLR encoders. Output: .devpack/ (git-ignored).
# Then on the other machine, from the repository root: `OUT=/some/dir bash .devpack/run.sh` (STEPS,
# BUDGET, PAR, JOBS, C: see run.sh).
# DATASET=knee (default, ~47 MB): knee-oa-128's labels.csv and its decoded 64 px cache; the 64 px
#   cache must exist (run any knee benchmark once) and, for sslfm jobs, .cache/bench-knee-enc-s<seed>
#   (run.ts --save-encoder), or ENC=<prefix> of other encoder folders (<prefix><seed>).
# DATASET=pneumonia: ../shared/data/pneumoniamnist/pneumoniamnist.npz; encoders from ENC
#   (default .cache/bench-pn-enc14-s, the session-14 encoders).
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUTDIR=.devpack
mkdir -p "$OUTDIR" .devrun
grep -qx '/.devpack/' .git/info/exclude || echo '/.devpack/' >> .git/info/exclude
grep -qx '/.devrun/' .git/info/exclude || echo '/.devrun/' >> .git/info/exclude
# sharp only decodes images on a cache miss; the packed cache always hits.
echo 'export default function sharp() { throw new Error("sharp is not in the packed bundle: the decoded cache must hit"); }' > .devrun/sharp-stub.mjs
ESBUILD=$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild | tail -1)
"$ESBUILD" bench/label-efficiency/run.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile=.devrun/le.mjs --alias:sharp=./.devrun/sharp-stub.mjs --log-level=error \
  --banner:js="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
gzip -9 -c .devrun/le.mjs > $OUTDIR/le.mjs.gz
WASM=$(ls -d node_modules/.pnpm/@tensorflow+tfjs-backend-wasm@*/node_modules/@tensorflow/tfjs-backend-wasm | tail -1)
mkdir -p $OUTDIR/node_modules/@tensorflow/tfjs-backend-wasm/dist
cp "$WASM/package.json" $OUTDIR/node_modules/@tensorflow/tfjs-backend-wasm/
cp "$WASM"/dist/*simd.wasm $OUTDIR/node_modules/@tensorflow/tfjs-backend-wasm/dist/
: > $OUTDIR/node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js
[ -f $OUTDIR/node.xz ] || xz -T2 -6 -c "$(command -v node)" > $OUTDIR/node.xz
DATASET=${DATASET:-knee}
if [ "$DATASET" = knee ]; then
  ENC=${ENC:-.cache/bench-knee-enc-s}
  CACHE=$(ls .cache/knee/images-64-*.u8 | head -1)
  [ -f $OUTDIR/knee64.u8.xz ] || xz -T2 -6 -c "$CACHE" > $OUTDIR/knee64.u8.xz
  echo "$(basename "$CACHE")" > $OUTDIR/cache-name.txt
  install -m 644 ../shared/data/knee-oa-128/labels.csv $OUTDIR/labels.csv
else
  ENC=${ENC:-.cache/bench-pn-enc14-s}
  install -m 644 ../shared/data/pneumoniamnist/pneumoniamnist.npz $OUTDIR/pneumoniamnist.npz
fi
for s in 0 1 2; do rm -rf $OUTDIR/enc-s$s; [ -d $ENC$s ] && cp -r $ENC$s $OUTDIR/enc-s$s; done
cp bench/label-efficiency/device/run.sh bench/label-efficiency/device/jobs-*.txt $OUTDIR/
du -sh $OUTDIR
