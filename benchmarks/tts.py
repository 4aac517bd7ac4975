"""Reference-TTS benchmark (issue 5): intelligibility, voice, watermark cost, speed, memory.

    .venv/bin/python benchmarks/tts.py [--sentences 50] [--voices flite-slt,festival-kal,espeak-us-m3]
                                       [--tts CKPT] [--codec CKPT] [--samples-dir docs/samples]
                                       [--delta D] [--payload-delta D]

For each voice, on held-out sentences: pocketsphinx WER of the voice's own
synthesizer audio and of our generations (same seeds with and without the
watermark; the relative WER change with a 95 % bootstrap interval over sentences, since
with and without the mark the sampled paths part after the first biased step and the
change carries sampling noise), resemblyzer cosine similarity to the mean embedding of the voice's
own recordings, the watermark's green-hit rate and the mean token entropy per
step (--delta / --payload-delta measure another strength than the product's), the
generation real-time factor and peak RSS. Unseen-speaker prompts (the
held-out voice) are reported too. Needs `pip install pocketsphinx resemblyzer
"setuptools<81"` (scripts/setup.sh installs them).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.codec import CodecError, load_codec  # noqa: E402
from synth.corpus import HELD_OUT_VOICES, VOICES_BY_NAME, read_corpus, synthesize  # noqa: E402
from synth.scheme import PRODUCT_CONFIG, scheme_for  # noqa: E402
from synth.textgen import sentences  # noqa: E402
from synth.tts import TTSError, load_tts  # noqa: E402
from watermark.config import ConfigError  # noqa: E402
from watermark.detect import detect  # noqa: E402
from watermark.keys import WatermarkKey  # noqa: E402
from watermark.processor import WatermarkLogitsProcessor  # noqa: E402

SR = 16_000


def words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c in " '" else " " for c in text).split()


def wer(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference length)."""
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, d[0] = d[0], i
        for j, hw in enumerate(h, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (rw != hw))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


def dwer_interval(wm: list[tuple[int, int]], nowm: list[tuple[int, int]],
                  n_boot: int = 2000, seed: int = 0) -> list[float]:
    """95 % bootstrap interval of the relative WER change (%), sentences resampled in pairs."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(wm, dtype=float), np.asarray(nowm, dtype=float)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    wer_a = a[idx, 0].sum(1) / np.maximum(a[idx, 1].sum(1), 1)
    wer_b = b[idx, 0].sum(1) / np.maximum(b[idx, 1].sum(1), 1)
    rel = 100 * (wer_a - wer_b) / np.maximum(wer_b, 1e-9)
    return [float(np.percentile(rel, 2.5)), float(np.percentile(rel, 97.5))]


class ASR:
    """pocketsphinx, a fresh decoder per utterance.

    One decoder reused across utterances is not stateless: the same audio decoded after
    other audio comes out with other words (measured on docs/samples, with live and with
    batch CMN), so a WER would depend on what was decoded before it.
    """

    def __call__(self, wav: np.ndarray) -> str:
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=SR, loglevel="FATAL")  # ~0.25 s; the price of no carried state
        pcm = (np.clip(wav, -1, 1) * 32767).astype("<i2").tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


class Speaker:
    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder, preprocess_wav

        self.encoder = VoiceEncoder("cpu", verbose=False)
        self.pre = preprocess_wav

    def __call__(self, wav: np.ndarray) -> np.ndarray:
        return self.encoder.embed_utterance(self.pre(wav.astype(np.float32), source_sr=SR))


def plot_spectrograms(samples_dir: Path, voices: list[str]) -> None:
    """docs/samples/spectrograms.png: synthesizer vs ours without and with the watermark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synth.audio import load_audio

    tags = ("synthesizer", "nowm", "wm")
    titles = {"synthesizer": "its synthesizer", "nowm": "ours, no watermark", "wm": "ours, watermarked"}
    fig, axes = plt.subplots(len(voices), 3, figsize=(12, 2.6 * len(voices)), squeeze=False)
    for i, voice in enumerate(voices):
        for j, tag in enumerate(tags):
            path = samples_dir / f"{voice}-{tag}.wav"
            ax = axes[i][j]
            if path.is_file():
                wav, _ = load_audio(path, SR)
                ax.specgram(wav, NFFT=512, Fs=SR, noverlap=384, cmap="magma")
            ax.set_title(f"{voice}: {titles[tag]}", fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.set_ylabel("Hz", fontsize=7)
    fig.tight_layout()
    fig.savefig(samples_dir / "spectrograms.png", dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=50)
    ap.add_argument("--voices", default="flite-slt,festival-kal,espeak-us-m3")
    ap.add_argument("--tts", default=None)
    ap.add_argument("--codec", default=None,
                    help="codec checkpoint to decode with (a `voxseal train decoder` output of the "
                         "shipped tokens); default: the TTS's own")
    ap.add_argument("--corpus", default=str(ROOT / "data" / "corpus"))
    ap.add_argument("--samples-dir", default=str(ROOT / "docs" / "samples"))
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--delta", type=float, default=None,
                    help="green-list bias to measure instead of the product's (same green lists)")
    ap.add_argument("--payload-delta", type=float, default=None,
                    help="payload-colour bias to measure instead of the product's")
    args = ap.parse_args()
    torch.manual_seed(0)
    codec = None
    try:
        if args.codec:
            codec = load_codec("compact-16k", args.codec, verifier=False)
        tts = load_tts(args.tts, codec=codec)
    except (CodecError, TTSError) as exc:
        sys.exit(f"error: {exc}")
    try:
        scheme = scheme_for(tts.codec).with_strength(args.delta, args.payload_delta)
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
    key = WatermarkKey.from_bytes(bytes(range(32)))
    asr, spk = ASR(), Speaker()
    texts = sentences(1234, args.sentences, held_out=True)
    utts = read_corpus(args.corpus)
    from synth.audio import load_audio, save_audio

    rows = {}
    t_gen = audio_s = 0.0
    samples_dir = Path(args.samples_dir)
    samples_dir.mkdir(parents=True, exist_ok=True)
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    for voice in voices:
        recs = [u for u in utts if u.speaker == voice][:20]
        ref_emb = np.mean([spk(load_audio(Path(args.corpus) / u.path, SR)[0]) for u in recs], axis=0)
        ref_emb /= np.linalg.norm(ref_emb)
        acc = {k: [0, 0] for k in ("wer_ref", "wer_wm", "wer_nowm")}
        per_sentence = {"wm": [], "nowm": []}  # (word errors, reference words) per sentence
        sims = {"wm": [], "nowm": []}
        hits, ents = [], []
        for i, text in enumerate(texts):
            own, _ = synthesize(VOICES_BY_NAME[voice], text)
            e, n = wer(text, asr(own))
            acc["wer_ref"][0] += e
            acc["wer_ref"][1] += n
            payload = 0x5EA10000 + i
            for tag, factory in (("wm", lambda p=payload: WatermarkLogitsProcessor(
                    key, scheme.config, p, scheme.cluster_map, scheme.codebook)), ("nowm", None)):
                t = time.time()
                res = tts.generate(text, voice=voice, seed=i, processor_factory=factory)
                t_gen += time.time() - t
                audio_s += res.seconds
                e, n = wer(text, asr(res.wav))
                acc[f"wer_{tag}"][0] += e
                acc[f"wer_{tag}"][1] += n
                per_sentence[tag].append((e, n))
                sims[tag].append(float(np.dot(spk(res.wav), ref_emb)))
                if tag == "wm":
                    det = detect(res.codes[scheme.codebook].numpy(), [key], scheme.config, scheme.cluster_map)
                    hits.append(det.score / max(det.n_units, 1))
                    ents.append(res.entropy_per_step)
                if i == 0:
                    save_audio(samples_dir / f"{voice}-{tag}.wav", res.wav, SR)
            if i == 0:
                save_audio(samples_dir / f"{voice}-synthesizer.wav", own, SR)
        rows[voice] = {
            "wer_synthesizer": acc["wer_ref"][0] / max(acc["wer_ref"][1], 1),
            "wer_watermarked": acc["wer_wm"][0] / max(acc["wer_wm"][1], 1),
            "wer_unwatermarked": acc["wer_nowm"][0] / max(acc["wer_nowm"][1], 1),
            "similarity_watermarked": float(np.mean(sims["wm"])),
            "similarity_unwatermarked": float(np.mean(sims["nowm"])),
            "green_hit_rate": float(np.mean(hits)), "entropy_per_step": float(np.mean(ents)),
            "dwer_percent_ci95": dwer_interval(per_sentence["wm"], per_sentence["nowm"]),
        }
        print(f"{voice}: done", flush=True)
    # unseen speaker through a prompt: the held-out voice's recording as enrolment clip
    unseen = {}
    for voice in sorted(HELD_OUT_VOICES):
        recs = [u for u in utts if u.speaker == voice]
        prompt = next((load_audio(Path(args.corpus) / u.path, SR)[0] for u in recs if u.seconds >= 3.0), None)
        if prompt is None:
            continue
        ref = np.mean([spk(load_audio(Path(args.corpus) / u.path, SR)[0]) for u in recs[1:21]], axis=0)
        ref /= np.linalg.norm(ref)
        s = [float(np.dot(spk(tts.generate(t, prompt_wav=prompt[: 10 * SR], seed=j).wav), ref))
             for j, t in enumerate(texts[:10])]
        unseen[voice] = float(np.mean(s))
    plot_spectrograms(samples_dir, voices)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rtf = t_gen / max(audio_s, 1e-9)
    print(f"\nreference TTS on {len(texts)} held-out sentences per voice ({tts.codec.name})")
    if scheme.config != PRODUCT_CONFIG:
        print(f"watermark strength measured: delta {scheme.config.delta:g}, payload_delta "
              f"{scheme.config.payload_delta:g} (product: delta {PRODUCT_CONFIG.delta:g}, "
              f"payload_delta {PRODUCT_CONFIG.payload_delta:g})")
    print(f"{'voice':16} {'WER synth':>9} {'WER ours':>9} {'ratio':>6} {'WER no-wm':>9} {'dWER%':>6} "
          f"{'dWER% 95% CI':>14} {'sim':>6} {'sim no-wm':>9} {'dsim':>6} {'green':>6} {'H/step':>7}")
    for voice, r in rows.items():
        ratio = r["wer_watermarked"] / max(r["wer_synthesizer"], 1e-9)
        lo, hi = r["dwer_percent_ci95"]
        dwer = 100 * (r["wer_watermarked"] - r["wer_unwatermarked"]) / max(r["wer_unwatermarked"], 1e-9)
        print(f"{voice:16} {r['wer_synthesizer']:9.3f} {r['wer_watermarked']:9.3f} {ratio:6.2f} "
              f"{r['wer_unwatermarked']:9.3f} {dwer:6.1f} "
              f"{f'[{lo:.1f}, {hi:.1f}]':>14} {r['similarity_watermarked']:6.3f} "
              f"{r['similarity_unwatermarked']:9.3f} "
              f"{r['similarity_watermarked'] - r['similarity_unwatermarked']:6.3f} "
              f"{r['green_hit_rate']:6.3f} {r['entropy_per_step']:7.2f}")
    print("targets: WER ratio <= 1.5, similarity >= 0.75, |dWER| <= 10 %, |dsim| <= 0.02")
    for voice, s in unseen.items():
        print(f"unseen speaker {voice} via --prompt: similarity {s:.3f}")
    print(f"generation real-time factor {rtf:.3f} (target <= 0.5); peak RSS {peak_mb:.0f} MB (target < 2048)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"voices": rows, "unseen": unseen, "rtf": rtf,
                                                   "peak_rss_mb": peak_mb,
                                                   "config": scheme.config.to_dict()},
                                                  indent=2) + "\n")


if __name__ == "__main__":
    main()
