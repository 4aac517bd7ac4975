#!/usr/bin/env bash
# Reproduces every shipped model from scratch (about three CPU-hours on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/voxseal
$V corpus build data/corpus --minutes 30 --seed 0
# 1. the codec (encoder, codebooks, first decoder)
$V train codec --corpus data/corpus --out runs/compact16k.pt --minutes 80
cp runs/compact16k.pt synth/assets/compact16k.pt
# experimental cluster map (not loaded by default; synth/scheme.py says why)
$V codec clusters data/corpus/wavs/train-000[0-7]* --clusters 64 -o synth/assets/compact16k.clusters-64.npz
# 2. the TTS on that codec's tokens
$V train tts --corpus data/corpus --out runs/tts.pt --minutes 32 --threads 1
cp runs/tts.pt synth/assets/tts.pt
# 3. the decoder tuned so re-encoding gives back what the TTS samples (tokens unchanged)
$V train decoder --corpus data/corpus --codec-checkpoint runs/compact16k.pt \
    --out runs/compact16k.tuned.pt --minutes 50 --pool-seconds 900
cp runs/compact16k.tuned.pt synth/assets/compact16k.pt
# 4. the verifier-side encoder (robustness lever 2), on clean and mild edits of the same codes,
#    then two more passes, each from the last at a quarter of its learning rate
$V train verifier --corpus data/corpus --out runs/compact16k.verifier.pt --minutes 15 \
    --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1
$V train verifier --corpus data/corpus --out runs/compact16k.verifier.pt2.pt --minutes 20 \
    --init runs/compact16k.verifier.pt --lr 5e-5 --seed 1 \
    --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1
$V train verifier --corpus data/corpus --out runs/compact16k.verifier.pt3.pt --minutes 12 \
    --init runs/compact16k.verifier.pt2.pt --lr 1.25e-5 --seed 2 \
    --code-pool runs/compact16k.tuned.pt.pool.pt --threads 1
cp runs/compact16k.verifier.pt3.pt synth/assets/compact16k.verifier.pt
# (not shipped: the robust encoder, `train verifier --robust`, see verify/search.py)
