"""A deterministic English sentence generator: training text the project can ship.

A small phrase grammar over hand-written word lists gives varied, speakable
sentences with numbers, questions and punctuation. Sentences are split into
train and held-out sets by a hash of their text, so the split never depends
on the seed or on how many sentences were drawn.
"""
from __future__ import annotations

import hashlib
import random

_SUBJECTS = [
    "the old farmer", "my sister", "a tall stranger", "our teacher", "the little dog",
    "the captain", "every student", "the young doctor", "his brother", "a quiet child",
    "the baker", "the pilot", "my neighbour", "the singer", "a busy nurse", "the engineer",
    "her father", "the gardener", "a clever fox", "the river guide", "the night guard",
    "the painter", "an honest judge", "the mayor", "my grandmother", "the driver",
]
_VERBS = [
    "carried", "painted", "found", "opened", "watched", "cleaned", "repaired", "counted",
    "followed", "borrowed", "described", "measured", "ordered", "packed", "noticed",
    "remembered", "wrapped", "delivered", "collected", "visited", "answered", "explained",
]
_OBJECTS = [
    "a wooden box", "the green door", "three silver coins", "the broken window",
    "an old letter", "the heavy basket", "a yellow kite", "the morning paper",
    "two red apples", "the long bridge", "a paper map", "the kitchen table",
    "a warm blanket", "the last train", "seven blue cups", "the small garden",
    "a strange sound", "the tired horse", "a bright lamp", "the frozen lake",
]
_PLACES = [
    "near the station", "by the river", "in the village", "at the market",
    "behind the school", "under the bridge", "on the hill", "across the street",
    "in the museum", "at the harbour", "beside the church", "inside the barn",
]
_TIMES = [
    "yesterday", "this morning", "last winter", "before dinner", "at midnight",
    "after the storm", "on Sunday", "every evening", "in the spring", "at noon",
]
_ADVERBS = ["slowly", "carefully", "quickly", "quietly", "happily", "suddenly", "gently"]
_QUESTION_WORDS = ["why", "when", "where", "how"]
_NUMBERS = [
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve",
    "fifteen", "twenty", "thirty", "forty", "fifty", "a hundred",
]
_NOUNS_PLURAL = ["books", "boats", "chairs", "letters", "birds", "candles", "stones", "songs"]
_ADJECTIVES = ["cold", "bright", "quiet", "strange", "lovely", "dark", "simple", "famous"]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _sentence(rng: random.Random) -> str:
    kind = rng.randrange(6)
    s, v, o = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    if kind == 0:
        return f"{_cap(s)} {v} {o} {rng.choice(_PLACES)}."
    if kind == 1:
        return f"{_cap(rng.choice(_TIMES))}, {s} {rng.choice(_ADVERBS)} {v} {o}."
    if kind == 2:
        return f"{_cap(rng.choice(_QUESTION_WORDS))} did {s} leave {o} {rng.choice(_PLACES)}?"
    if kind == 3:
        return (f"{_cap(s)} counted {rng.choice(_NUMBERS)} {rng.choice(_NOUNS_PLURAL)}, "
                f"and then {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}.")
    if kind == 4:
        return f"The {rng.choice(_ADJECTIVES)} night was long, but {s} {v} {o} {rng.choice(_TIMES)}."
    return f"{_cap(s)} said that {rng.choice(_SUBJECTS)} {v} {o}!"


def is_held_out(text: str) -> bool:
    """True for the tenth of all sentences reserved for evaluation (hash split)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[0] < 26


def sentences(seed: int, n: int, *, held_out: bool) -> list[str]:
    """`n` distinct sentences from one side of the split, deterministic in `seed`."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise RuntimeError("sentence grammar exhausted; ask for fewer sentences")
        text = _sentence(rng)
        if text in seen or is_held_out(text) != held_out:
            continue
        seen.add(text)
        out.append(text)
    return out
