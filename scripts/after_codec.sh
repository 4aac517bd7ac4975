#!/usr/bin/env bash
# Session orchestration (not part of the product): once runs/compact16k.pt exists, ship it and
# train what depends on it, in two parallel chains (one core each).
set -uo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/voxseal
cp runs/compact16k.pt synth/assets/compact16k.pt
rm -f synth/assets/compact16k.verifier.pt synth/assets/compact16k.clusters.npz
(
  $V train verifier --corpus data/corpus --out runs/compact16k.verifier.pt --minutes 10 --threads 1 \
    && cp runs/compact16k.verifier.pt synth/assets/compact16k.verifier.pt \
    && $V codec clusters data/corpus/wavs/train-000[0-7]* --verifier --clusters 64 \
         -o synth/assets/compact16k.clusters.npz --json \
    && OMP_NUM_THREADS=1 .venv/bin/python benchmarks/codec.py --clips 20 --threads 1 \
         --json-out benchmarks/results/codec.json > benchmarks/results/codec.txt 2>&1
  echo "chain A done rc=$?"
) > runs/chainA.log 2>&1 &
(
  $V train tts --corpus data/corpus --out runs/tts.pt --minutes 32 --threads 1 \
    && cp runs/tts.pt synth/assets/tts.pt
  echo "chain B done rc=$?"
) > runs/chainB.log 2>&1 &
wait
