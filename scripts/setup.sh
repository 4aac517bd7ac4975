#!/usr/bin/env bash
# One-command setup for VoxSeal on a fresh Debian machine (idempotent).
#   bash scripts/setup.sh              install everything, then run the main job (demo)
#   bash scripts/setup.sh --install-only   install only (what the test command uses)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
INSTALL_ONLY=0
[ "${1:-}" = "--install-only" ] && INSTALL_ONLY=1

# Speech synthesizers (training corpus), ffmpeg + libsndfile (audio I/O), and recorded human
# speech for the false-positive evaluation (Asterisk's voice prompts, 16 kHz G.722, CC-BY-SA).
APT_PACKAGES=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts ffmpeg libsndfile1
              asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722
              asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
STAMP=.venv/.voxseal-installed
HASH=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "[setup] installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  # torch pinned: 2.13.0 is the CPU wheel on local disk; anything else pulls a CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  # encodec without its dependencies: its torchaudio pin cannot load beside torch 2.13 CPU
  # (see synth/_encodec_compat.py); einops and numpy are what it really needs.
  .venv/bin/pip install -q --no-deps encodec==0.1.1
  .venv/bin/pip install -q -e ".[dev,eval]"
  echo "$HASH" > "$STAMP"
fi

if [ "$INSTALL_ONLY" = 1 ]; then exit 0; fi
echo "[setup] running the main job on the embedded default"
exec .venv/bin/voxseal demo
