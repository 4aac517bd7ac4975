#!/usr/bin/env bash
cd "$(dirname "$0")/../../.."
for cfg in "8 2.0 4" "16 1.0 4" "32 2.0 4" "32 3.0 4" "32 2.0 8" "32 2.0 2" "64 2.0 4"; do
  .venv/bin/python benchmarks/results/soft-oneoff/soft.py tierB/snr-5db $cfg NOCTL 2>&1 | grep -v -i warn
done
