"""Text front end of the TTS: normalisation, chunking, G2P, phone set, espeak-ng alignments."""
from __future__ import annotations

import numpy as np
import pytest

from synth import frontend as fe


@pytest.mark.parametrize("text, want", [
    ("I have 3 cats.", "I have three cats."),
    ("It cost $12.50 today.", "It cost twelve dollars and fifty cents today."),
    ("In 1984 we left.", "In nineteen eighty four we left."),
    ("Dr. Smith lives on Baker St. now.", "Doctor Smith lives on Baker Street now."),
    ("St. Paul is 21st, not 2nd.", "Saint Paul is twenty first, not second."),
    ("About 45% of 1,200 people.", "About forty five percent of one thousand two hundred people."),
    ("Pi is 3.14", "Pi is three point one four"),
    ("Meet at 7:05 pm; bring tea & cake.", "Meet at seven oh five p m, bring tea and cake."),
])
def test_normalize_text(text, want):
    assert fe.normalize_text(text) == want


def test_number_words():
    assert fe.number_to_words(0) == "zero"
    assert fe.number_to_words(1_000_001) == "one million one"
    assert fe.number_to_words(-15) == "minus fifteen"
    assert fe.ordinal_to_words(40) == "fortieth"
    assert fe.year_to_words(2005) == "two thousand five"
    assert fe.year_to_words(1905) == "nineteen oh five"


def test_split_sentences_and_long_chunks():
    text = "First one. Second one! Third? " + ", ".join(["word word word word"] * 12) + "."
    chunks = fe.split_sentences(fe.normalize_text(text))
    assert chunks[:3] == ["First one.", "Second one!", "Third?"]
    assert len(chunks) > 4
    assert all(len(c.split()) <= fe.MAX_WORDS for c in chunks)
    # no punctuation at all: cut between words
    assert all(len(c.split()) <= 10 for c in fe.split_sentences("a " * 95, max_words=10))
    assert fe.split_sentences(" ... !!! ") == []


def test_g2p_phones_in_set_and_pauses():
    phones = fe.g2p(fe.normalize_text("The cat sat, and the dog ran."))
    assert phones[0] == "pau" and phones[-1] == "pau"
    assert set(phones) <= set(fe.PHONES)
    assert phones[1:4] == ["dh", "ax", "k"]
    inner = phones[1:-1]
    assert "pau" in inner  # the comma
    assert fe.g2p("") == ["pau"]


def test_ipa_mapping():
    assert fe.ipa_to_phones("ˈaɪ") == ["ay"]
    assert fe.ipa_to_phones("ɡˈɑːɹ") == ["g", "aa", "r"]
    assert fe.ipa_to_phones("tʃ") == ["ch"]
    assert fe.ipa_to_phones("") == ["pau"]
    assert fe.arpabet_to_phones("AH0") == ["ah"]
    assert fe.arpabet_to_phones("h#") == ["pau"]


def test_espeak_alignment_times_match_the_command_line_audio():
    from synth.corpus import VOICES_BY_NAME, synthesize

    voice = VOICES_BY_NAME["espeak-gb-f4"]
    text = "The captain watched a yellow kite."
    wav, _ = synthesize(voice, text)
    al, n = fe.espeak_alignment(text, voice.args)
    names = [p for p, _ in al]
    ends = [e for _, e in al]
    assert names[0] == "pau" and names[-1] == "pau"
    assert ends == sorted(ends)
    assert set(names) <= set(fe.PHONES)
    # the command line appends ~0.3 s of silence after the library's audio
    assert 0.0 <= len(wav) / 16000 - ends[-1] < 0.5
    ids, dur = fe.frames_from_alignment(al, 200, 50.0)
    assert dur.sum() == 200 and (dur >= 0).all() and len(ids) == len(al)
    assert np.issubdtype(ids.dtype, np.integer)
