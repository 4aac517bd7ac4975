#!/usr/bin/env bash
# Reproduces every shipped model from scratch (about seventeen and a quarter hours on 2 cores: the training
# budgets below add up to 1033 minutes, run one after another). Budgets are
# wall-clock minutes, so a machine of another speed gets there in other step counts.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin/voxseal
$V corpus build data/corpus --minutes 30 --seed 0
# 1. the codec (encoder, codebooks, first decoder)
$V train codec --corpus data/corpus --out runs/compact16k.pt --minutes 80
cp runs/compact16k.pt synth/assets/compact16k.pt
# experimental cluster map (not loaded by default; synth/scheme.py says why)
$V codec clusters data/corpus/wavs/train-000[0-7]* --clusters 64 -o synth/assets/compact16k.clusters-64.npz
# 2. the first TTS on that codec's tokens: steps 3-5 sample their code pools with it
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
# 5. the shipped decoder: a fresh ISTFT decoder for the same tokens, trained on the mel loss
#    alone, then jointly with a verifier encoder that learns to read its audio back
#    (benchmarks/results/istft-decoder/ has every stage's measurements). Each stage resumes
#    the one before: its state (and code pool) copied beside the new --out.
D="$V train decoder --corpus data/corpus --codec-checkpoint runs/compact16k.tuned.pt --architecture istft"
mkdir -p runs/istft
#    (the mel-only stage samples no codes; the next two sample the same 600 s pool: same TTS and seed)
$D --out runs/istft/mel.pt --minutes 25 --consistency-weight 0 --pool-fraction 0
$V train verifier --corpus data/corpus --codec-checkpoint runs/istft/mel.pt \
    --init runs/compact16k.verifier.pt3.pt --lr 2e-4 --minutes 20 \
    --tts-checkpoint runs/tts.pt --pool-seconds 600 --out runs/istft/verifier.p1.pt
resume() { cp "runs/istft/$1.pt.train.pt" "runs/istft/$2.pt.train.pt"
           if [ -n "${3:-}" ]; then cp "runs/istft/$1.pt.pool.pt" "runs/istft/$2.pt.pool.pt"; fi; }
J="--verifier runs/istft/verifier.p1.pt --verifier-lr 1e-4"
resume mel j1 && $D --out runs/istft/j1.pt $J --pool-seconds 600 --minutes 55
resume j1 j2 pool && $D --out runs/istft/j2.pt $J --pool-seconds 600 --minutes 75 \
    --consistency-weight 0.25 --pool-fraction 0.5
resume j2 j3 pool && $D --out runs/istft/j3.pt $J --pool-seconds 600 --minutes 111 \
    --consistency-weight 0.5 --pool-fraction 0.5
# a three times larger pool of sampled codes (sampled afresh, about 12 minutes)
resume j3 j4 && $D --out runs/istft/j4.pt $J --pool-seconds 1800 --minutes 143 \
    --consistency-weight 0.5 --pool-fraction 0.5
cp runs/istft/j4.pt synth/assets/compact16k.pt
cp runs/istft/j4.verifier.pt synth/assets/compact16k.verifier.pt
# 6. the shipped TTS: the same model on an eight times larger corpus (the first one memorised
#    its 30 minutes; benchmarks/results/tts-corpus240/ has the measurements)
$V corpus build data/corpus-240 --minutes 240 --seed 0
$V train tts --corpus data/corpus-240 --out runs/tts240/tts.pt --minutes 35 --threads 2
cp runs/tts240/tts.pt synth/assets/tts.pt
# 7. specialist verifier encoders (verify/specialists.py), each from the verifier encoder on one
#    family of heavy edits and codes the shipped TTS samples; the verifier searches each one
#    only on clips that show its edit (benchmarks/results/specialists/ has the measurements)
mkdir -p runs/specialists
for S in band lowpass noise smooth; do
    $V train verifier --corpus data/corpus --out runs/specialists/$S.pt --specialist $S \
        --init synth/assets/compact16k.verifier.pt --tts-checkpoint synth/assets/tts.pt \
        --minutes 60 --threads 1
    cp runs/specialists/$S.pt synth/assets/compact16k.$S.pt
done
#    the low-pass one trains on, to 100 minutes on two threads (it resumes from its state file):
#    at 60 it was still learning (agreement 0.43 -> 0.47 over its last 20 minutes; 0.55 at 100)
$V train verifier --corpus data/corpus --out runs/specialists/lowpass.pt --specialist lowpass \
    --init synth/assets/compact16k.verifier.pt --tts-checkpoint synth/assets/tts.pt \
    --minutes 100 --threads 2
cp runs/specialists/lowpass.pt synth/assets/compact16k.lowpass.pt
#    and so does the noise one (agreement 0.389 at 60 minutes, 0.421 at 100): with the soft
#    reading, white noise at 5 s on 30 clips 19 -> 23, pink 4 -> 6
$V train verifier --corpus data/corpus --out runs/specialists/noise.pt --specialist noise \
    --init synth/assets/compact16k.verifier.pt --tts-checkpoint synth/assets/tts.pt \
    --minutes 100 --threads 2
cp runs/specialists/noise.pt synth/assets/compact16k.noise.pt
#    the high-pass specialist goes on from the band one, on high-pass filters alone
$V train verifier --corpus data/corpus --out runs/specialists/highpass.pt --specialist highpass \
    --init synth/assets/compact16k.band.pt --tts-checkpoint synth/assets/tts.pt --minutes 40 --threads 1
cp runs/specialists/highpass.pt synth/assets/compact16k.highpass.pt
# (not shipped: the robust encoder, `train verifier --specialist robust`, see verify/specialists.py)
