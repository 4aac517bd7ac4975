"""Held-out AR loss of TTS checkpoints on one corpus' eval utterances (how well each generalises).

    .venv/bin/python benchmarks/tts_eval_loss.py --corpus data/corpus-120 CKPT [CKPT ...]

The corpus is encoded in memory with the shipped codec (a few minutes for 120 minutes
of speech); each eval utterance is prompted by its speaker's fixed voice prompt from the training
split, as `voxseal train tts` logs `eval_ar_loss` (nats per codebook-1 frame, lower is
better), so checkpoints trained on different corpora compare on the same utterances.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth.codec import load_codec  # noqa: E402
from synth.corpus import CorpusError  # noqa: E402
from synth.tts import TTSError, load_tts  # noqa: E402
from synth.tts_data import TTSDataError, build_items  # noqa: E402
from synth.tts_train import eval_ar_loss  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--max-items", type=int, default=24, help="eval utterances scored (as in training)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    codec = load_codec("compact-16k")
    try:
        items = build_items(args.corpus, codec)
    except (CorpusError, TTSDataError) as exc:
        sys.exit(f"error: {exc}")
    evals = build_items(args.corpus, codec, split="eval", speakers={it.speaker for it in items})
    print(f"{args.corpus}: {len(items)} train, {len(evals)} eval utterances ({args.max_items} scored)")
    for ck in args.checkpoints:
        try:
            model = load_tts(ck, codec=codec).model
        except TTSError as exc:
            sys.exit(f"error: {exc}")
        with torch.no_grad():
            loss = eval_ar_loss(model, evals, items, max_items=args.max_items)
        print(f"{ck:40s} eval AR loss {loss:.3f}", flush=True)


if __name__ == "__main__":
    main()
