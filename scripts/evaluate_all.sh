#!/usr/bin/env bash
# Every measurement behind the issues' must-show figures, for the models now in
# synth/assets/ -- run it before shipping a new codec decoder, verifier or TTS, and
# compare OUT with benchmarks/results/. Needs `bash scripts/setup.sh` and the corpus
# (`.venv/bin/voxseal corpus build data/corpus --minutes 30 --seed 0`).
#
#   bash scripts/evaluate_all.sh [OUT]        (default runs/eval-<UTC date and time>)
#   QUICK=1 bash scripts/evaluate_all.sh OUT  (a few clips per step: checks the pipeline runs;
#                                              its figures mean nothing)
#
# About 40 minutes on 2 cores: every step but the last took 24 minutes here (2026-11-27, with
# the test suite and a Tier A run beside some steps), the robustness step 15.6 minutes on its
# own (2026-11-27, with --perth, which this script leaves out). In this order (each
# step's output is complete before the next starts; a rerun with the same OUT reuses
# the evaluations' clip caches):
#   codec.txt            STOI / PESQ / codebook-1 agreement, speed       (issue 2)
#   attack-agreement.txt pair agreement of sampled codes under Tier A   (what detection needs)
#   clean100/            100 clean and lightly edited 5 s clips          (issue 6, clean at 1e-6)
#   human/               900 clips of recorded human speech              (issue 6, false positives)
#   verify.txt           verification speed and memory                   (issue 6)
#   asr-bound.txt        WER of synthesizer / codec round trip / TTS     (issue 5)
#   tts.txt              WER ratio, similarity, watermark cost, speed    (issue 5)
#   robustness/          Tier A and Tier B at 1, 2, 5, 10 s             (issue 6, Tier A)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/eval-$(date -u +%Y%m%d-%H%M)}
PY=.venv/bin/python
V=.venv/bin/voxseal
[ -x "$V" ] || { echo "error: no .venv; run: bash scripts/setup.sh" >&2; exit 1; }
[ -f data/corpus/corpus.json ] || {
    echo "error: no corpus; run: $V corpus build data/corpus --minutes 30 --seed 0" >&2; exit 1; }
mkdir -p "$OUT"
step() { echo "== $(date -u +%T) $1"; }
if [ "${QUICK:-0}" = 1 ]; then
    CODEC="--clips 4"; AGREE="--clips 2"; CLEAN="--clips 2 --controls 2"; HUMAN="--clips 10"
    VERIFY="--repeats 1 --files 2"; ASR="--sentences 2"; TTS="--sentences 2"
    ROBUST="--clips 2 --controls 2 --seconds 2 --attacks tierA/none,tierA/mp3-32k"
else
    CODEC=""; AGREE=""; CLEAN="--clips 100 --controls 20"; HUMAN="--clips 900"
    VERIFY=""; ASR=""; TTS=""
    ROBUST="--clips 10 --controls 10 --seconds 1,2,5,10 --attacks tierA,tierB"
fi

step "codec -> $OUT/codec.txt"
$PY benchmarks/codec.py --corpus data/corpus $CODEC --json-out "$OUT/codec.json" > "$OUT/codec.txt"
step "attack agreement -> $OUT/attack-agreement.txt"
$PY benchmarks/attack_agreement.py $AGREE > "$OUT/attack-agreement.txt"
step "clean 100 -> $OUT/clean100/"
$V eval robustness $CLEAN --seconds 5 \
    --attacks tierA/none,tierA/mp3-32k,tierA/boost-1.1,tierA/duck-0.9 --workers 2 \
    --out "$OUT/clean100" --json --corpus data/corpus --seed 0 > "$OUT/clean100.json"
step "human speech -> $OUT/human/"
$V eval human-speech $HUMAN --workers 2 --out "$OUT/human" --seconds 5.0 --seed 0 --json \
    > "$OUT/human.json"
step "verification speed -> $OUT/verify.txt"
$PY benchmarks/verify.py $VERIFY > "$OUT/verify.txt"
step "ASR bound -> $OUT/asr-bound.txt"
$PY benchmarks/asr_bound.py $ASR > "$OUT/asr-bound.txt"
step "TTS -> $OUT/tts.txt (listening samples in $OUT/samples)"
$PY benchmarks/tts.py $TTS --samples-dir "$OUT/samples" --json-out "$OUT/tts.json" > "$OUT/tts.txt"
step "robustness -> $OUT/robustness/"
$V eval robustness $ROBUST --workers 2 \
    --out "$OUT/robustness" --json --corpus data/corpus --seed 0 > "$OUT/robustness.json"
step "done: $OUT"
