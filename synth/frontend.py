"""Text front end of the reference TTS: normalisation, sentence chunking, G2P, phone set.

Phone set. The corpus alignments come from flite and festival, which both speak
the CMU/radio ARPAbet-like set ('pau', 'dh', 'iy', ...). That set is the model's
phone inventory (`PHONES`). espeak-ng, our grapheme-to-phoneme engine, speaks IPA;
`ipa_to_phones` maps its phonemes onto the same set with one small table
(`_IPA`), covering the US and the British (gb, rp) phonologies the corpus voices
use. Stress marks are dropped: flite's alignments carry none, so the model could
not learn them from the aligned voices. Every clause break (comma, colon,
sentence end) becomes a 'pau', which is how flite and festival mark them too;
its length comes from the duration predictor.

Alignments of the espeak-ng corpus voices. espeak-ng writes no phone times on
its command line, but its library reports a phoneme event, with its audio
position, for every phoneme it speaks. `espeak_alignment` re-synthesizes an
utterance through libespeak-ng (via ctypes) with the corpus voice's own
variant, rate and pitch; the library's audio is sample-identical to the
command line's (the command line only appends silence), so the event times are
exact alignments of the corpus audio, and all twelve voices train the duration
predictor and the codec LM, none with estimated durations.

Normalisation. Numbers become words (cardinals, decimals, ordinals, years,
money, percentages, times of day), common abbreviations are expanded (Dr., Mr.,
St., etc.), symbols are spelled (&, %, +, @), and characters espeak-ng would
read out or choke on are dropped. Long text is cut into sentences, and
sentences longer than `MAX_WORDS` words are cut again at clause punctuation or,
failing that, between words, so every chunk stays within the utterance lengths
the model was trained on.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
import threading
import unicodedata

import numpy as np

# ---------------------------------------------------------------- phone set
PHONES: tuple[str, ...] = (
    "pau", "aa", "ae", "ah", "ao", "aw", "ax", "ay", "b", "ch", "d", "dh", "eh", "er", "ey", "f",
    "g", "hh", "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s", "sh", "t",
    "th", "uh", "uw", "v", "w", "y", "z", "zh",
)
PHONE_ID = {p: i for i, p in enumerate(PHONES)}
PAU = PHONE_ID["pau"]

# flite / festival names outside the core set, mapped onto it
_ARPA_ALIASES = {
    "h#": ["pau"], "sil": ["pau"], "brth": ["pau"], "ssil": ["pau"], "#": ["pau"],
    "axr": ["er"], "el": ["ax", "l"], "em": ["ax", "m"], "en": ["ax", "n"], "nx": ["n"],
    "dx": ["d"], "ix": ["ih"], "hv": ["hh"], "q": ["t"], "ux": ["uw"], "ax-h": ["ax"],
}

# espeak-ng IPA phoneme (stress removed) -> ARPAbet-like phones
_IPA: dict[str, list[str]] = {
    # consonants
    "p": ["p"], "b": ["b"], "t": ["t"], "d": ["d"], "k": ["k"], "ɡ": ["g"], "g": ["g"],
    "f": ["f"], "v": ["v"], "θ": ["th"], "ð": ["dh"], "s": ["s"], "z": ["z"], "ʃ": ["sh"],
    "ʒ": ["zh"], "h": ["hh"], "tʃ": ["ch"], "dʒ": ["jh"], "m": ["m"], "n": ["n"], "ŋ": ["ng"],
    "l": ["l"], "ɫ": ["l"], "ɹ": ["r"], "r": ["r"], "ɾ": ["d"], "w": ["w"], "j": ["y"],
    "ʔ": ["t"], "x": ["k"], "ç": ["hh"], "ʍ": ["w"], "n̩": ["ax", "n"], "l̩": ["ax", "l"],
    "m̩": ["ax", "m"], "ɬ": ["l"], "ʲ": [],
    # vowels (US)
    "i": ["iy"], "iː": ["iy"], "ɪ": ["ih"], "ᵻ": ["ih"], "eɪ": ["ey"], "e": ["ey"], "ɛ": ["eh"],
    "æ": ["ae"], "ɑ": ["aa"], "ɑː": ["aa"], "ɔ": ["ao"], "ɔː": ["ao"], "oʊ": ["ow"], "o": ["ow"],
    "oː": ["ao"], "ʊ": ["uh"], "u": ["uw"], "uː": ["uw"], "ʌ": ["ah"], "ə": ["ax"], "ɚ": ["er"],
    "ɜ": ["er"], "ɜː": ["er"], "ɐ": ["ax"], "aɪ": ["ay"], "aʊ": ["aw"], "ɔɪ": ["oy"],
    "a": ["ae"], "aː": ["aa"], "ɒ": ["aa"], "ɑ̃": ["aa", "n"], "ɛ̃": ["eh", "n"],
    # r-coloured and British diphthongs
    "ɑːɹ": ["aa", "r"], "ɔːɹ": ["ao", "r"], "oːɹ": ["ao", "r"], "ɛɹ": ["eh", "r"],
    "ɪɹ": ["ih", "r"], "iəɹ": ["ih", "r"], "ʊɹ": ["uh", "r"], "ʊəɹ": ["uh", "r"],
    "aɪɚ": ["ay", "er"], "aɪə": ["ay", "ax"], "aʊɚ": ["aw", "er"], "aʊə": ["aw", "ax"],
    "əʊ": ["ow"], "eə": ["eh", "r"], "ɪə": ["ih", "r"], "ʊə": ["uh", "r"], "ɛə": ["eh", "r"],
    "ɜːɹ": ["er"], "əl": ["ax", "l"], "ɔɪə": ["oy", "ax"], "iə": ["iy", "ax"], "ɑːɹt": ["aa", "r", "t"],
    "": ["pau"],
}
_IPA_MAX = max(len(k) for k in _IPA)


def ipa_to_phones(ipa: str) -> list[str]:
    """Phones of one espeak-ng IPA phoneme (or a run of them), by longest match in `_IPA`.

    Unknown characters are skipped; an empty phoneme is espeak-ng's pause.
    """
    s = ipa.replace("ˈ", "").replace("ˌ", "").replace("\u200d", "")
    if s == "":
        return ["pau"]
    out: list[str] = []
    i = 0
    while i < len(s):
        for n in range(min(_IPA_MAX, len(s) - i), 0, -1):
            piece = s[i:i + n]
            if piece in _IPA:
                out.extend(_IPA[piece])
                i += n
                break
        else:
            i += 1  # length marks, ties, unknown symbols carry no phone of ours
    return out


def arpabet_to_phones(name: str) -> list[str]:
    """flite/festival phone name -> phones of `PHONES` (digits of stress dropped)."""
    n = name.lower().rstrip("012")
    if n in PHONE_ID:
        return [n]
    return list(_ARPA_ALIASES.get(n, []))


# ---------------------------------------------------------------- errors
class G2PError(Exception):
    """espeak-ng is missing or failed."""

    exit_code = 5


# ---------------------------------------------------------------- numbers
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORD_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}


def number_to_words(n: int) -> str:
    """Cardinal: 1234 -> 'one thousand two hundred thirty four'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    if n >= 10**15:
        return " ".join(_ONES[int(d)] for d in str(n))
    for value, word in _SCALES:
        if n >= value:
            rest = n % value
            return (number_to_words(n // value) + " " + word
                    + ("" if rest == 0 else " " + number_to_words(rest)))
    raise AssertionError(n)


def ordinal_to_words(n: int) -> str:
    words = number_to_words(n).split(" ")
    last = words[-1]
    if last in _ORD_IRREGULAR:
        words[-1] = _ORD_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_to_words(n: int) -> str:
    """1984 -> 'nineteen eighty four', 2005 -> 'two thousand five', 1900 -> 'nineteen hundred'."""
    if 2000 <= n < 2010 or n % 1000 == 0:
        return number_to_words(n)
    hi, lo = divmod(n, 100)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    if lo < 10:
        return number_to_words(hi) + " oh " + number_to_words(lo)
    return number_to_words(hi) + " " + number_to_words(lo)


def _digits(s: str) -> str:
    return " ".join(_ONES[int(d)] for d in s)


def _money(m: re.Match) -> str:
    whole = int(m.group(1).replace(",", ""))
    cents = m.group(2)
    scale = m.group(3)
    out = number_to_words(whole)
    if scale:
        return f"{out} {scale.lower()} dollars"
    out += " dollar" if whole == 1 else " dollars"
    if cents and int(cents):
        c = int(cents.ljust(2, "0")[:2])
        out += f" and {number_to_words(c)} cent" + ("" if c == 1 else "s")
    return out


def _decimal(m: re.Match) -> str:
    return number_to_words(int(m.group(1).replace(",", ""))) + " point " + _digits(m.group(2))


def _time(m: re.Match) -> str:
    h, mnt = int(m.group(1)), int(m.group(2))
    suffix = m.group(3)
    words = number_to_words(h)
    if mnt == 0:
        words += " o'clock" if not suffix else ""
    elif mnt < 10:
        words += " oh " + number_to_words(mnt)
    else:
        words += " " + number_to_words(mnt)
    if suffix:
        words += " " + " ".join(suffix.replace(".", "").lower())
    return words


def _integer(m: re.Match) -> str:
    raw = m.group(0)
    n = int(raw.replace(",", ""))
    if "," not in raw and len(raw) == 4 and 1100 <= n <= 2099:
        return year_to_words(n)
    if len(raw.replace(",", "")) > 15:
        return _digits(raw.replace(",", ""))
    return number_to_words(n)


# ---------------------------------------------------------------- abbreviations
_ABBREV = [
    (r"\bDr\.", "Doctor"), (r"\bMr\.", "Mister"), (r"\bMrs\.", "Missus"), (r"\bMs\.", "Miz"),
    (r"\bProf\.", "Professor"), (r"\bSt\.(?=\s+[A-Z])", "Saint"), (r"\bSt\.", "Street"),
    (r"\bAve\.", "Avenue"), (r"\bRd\.", "Road"), (r"\bMt\.", "Mount"), (r"\bJr\.", "Junior"),
    (r"\bSr\.", "Senior"), (r"\bvs\.", "versus"), (r"\betc\.", "et cetera"), (r"\be\.g\.", "for example"),
    (r"\bi\.e\.", "that is"), (r"\bapprox\.", "approximately"), (r"\bNo\.(?=\s*\d)", "number"),
    (r"\bCapt\.", "Captain"), (r"\bGen\.", "General"), (r"\bGov\.", "Governor"), (r"\bLt\.", "Lieutenant"),
    (r"\bDept\.", "Department"), (r"\bInc\.", "Incorporated"), (r"\bLtd\.", "Limited"),
    (r"\bCo\.", "Company"),
    (r"\bJan\.", "January"), (r"\bFeb\.", "February"), (r"\bAug\.", "August"), (r"\bSept?\.", "September"),
    (r"\bOct\.", "October"), (r"\bNov\.", "November"), (r"\bDec\.", "December"),
    (r"\bkm\b", "kilometres"), (r"\bkg\b", "kilograms"), (r"\bcm\b", "centimetres"),
    (r"\bmm\b", "millimetres"),
]
_ABBREV_RE = [(re.compile(p), r) for p, r in _ABBREV]
_SYMBOLS = {"&": " and ", "%": " percent", "+": " plus ", "@": " at ", "=": " equals ", "#": " number ",
            "°": " degrees", "€": " euros ", "£": " pounds "}
_PUNCT_MAP = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": ", ", "\u2014": ", ",
              "\u2026": "...", "\u00a0": " "}


def normalize_text(text: str) -> str:
    """Spoken form of `text`: numbers, abbreviations and symbols as words, tidy punctuation."""
    s = unicodedata.normalize("NFKC", text)
    for a, b in _PUNCT_MAP.items():
        s = s.replace(a, b)
    for pat, rep in _ABBREV_RE:
        s = pat.sub(rep, s)
    s = re.sub(r"\$\s?(\d[\d,]*)(?:\.(\d+))?(?:\s?(million|billion|thousand|trillion)\b)?", _money, s,
               flags=re.IGNORECASE)
    s = re.sub(r"\b(\d{1,2}):(\d{2})\s?([AaPp]\.?[Mm]\.?)?", _time, s)
    s = re.sub(r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal_to_words(int(m.group(1))), s)
    s = re.sub(r"(\d[\d,]*)\.(\d+)", _decimal, s)
    s = re.sub(r"(?<![\w])-(?=\d)", " minus ", s)
    s = re.sub(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+", _integer, s)
    for a, b in _SYMBOLS.items():
        s = s.replace(a, b)
    s = re.sub(r"\s*[-/]\s*", lambda m: " " if m.group(0).strip() == "-" else " ", s)
    s = re.sub(r"\s*[;:]\s*", ", ", s)
    s = re.sub(r"[()\[\]{}]", ", ", s)
    # keep letters (any script espeak-ng may know), apostrophes and clause/sentence punctuation
    s = "".join(ch if (ch.isalpha() or ch in " '.,!?\n") else " " for ch in s)
    s = re.sub(r"\s*,(\s*,)+", ",", s)
    s = re.sub(r"[ \t]+", " ", s)
    s = re.sub(r" ([.,!?])", r"\1", s)
    return s.strip()


# ---------------------------------------------------------------- sentences
MAX_WORDS = 16  # corpus sentences have at most 16 words (6.8 s): longer chunks leave the training range
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*\n+")


def split_sentences(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Cut normalised text into sentences, then cut long sentences into chunks of <= max_words."""
    out: list[str] = []
    for sent in _SENT_END.split(text):
        sent = " ".join(sent.split())
        if not sent or not any(ch.isalpha() for ch in sent):
            continue
        out.extend(_cut_long(sent, max_words))
    return out


def _cut_long(sent: str, max_words: int) -> list[str]:
    words = sent.split(" ")
    if len(words) <= max_words:
        return [sent]
    # prefer clause punctuation: greedily pack clauses while they fit
    clauses = re.split(r"(?<=,)\s+", sent)
    chunks: list[str] = []
    cur: list[str] = []
    for clause in clauses:
        cw = clause.split(" ")
        if len(cw) > max_words:  # a clause too long on its own: cut between words
            if cur:
                chunks.append(" ".join(cur))
                cur = []
            for i in range(0, len(cw), max_words):
                chunks.append(" ".join(cw[i:i + max_words]))
            continue
        if len(cur) + len(cw) > max_words and cur:
            chunks.append(" ".join(cur))
            cur = []
        cur.extend(cw)
    if cur:
        chunks.append(" ".join(cur))
    return [c for c in chunks if any(ch.isalpha() for ch in c)]


# ---------------------------------------------------------------- G2P
_ESPEAK = shutil.which("espeak-ng")


def g2p(sentence: str, language: str = "en-us") -> list[str]:
    """Phones of one (normalised) sentence via espeak-ng, framed by pauses.

    Clause breaks become 'pau'; the result always starts and ends with 'pau'
    (the corpus utterances do). Returns ['pau', 'pau'] for text with nothing to say.
    """
    if _ESPEAK is None:
        raise G2PError("espeak-ng is not installed; run scripts/setup.sh")
    try:
        res = subprocess.run([_ESPEAK, "-q", "--ipa", "--sep= ", "-v", language, "--stdin"],
                             input=sentence, capture_output=True, text=True, timeout=60, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        raise G2PError(f"espeak-ng failed on a sentence: {exc}") from None
    phones = ["pau"]
    out = re.sub(r"\([a-z-]+\)", " ", res.stdout)  # language-switch marks such as "(fr)"
    for line in out.splitlines():
        line_phones = [p for tok in line.split() for p in ipa_to_phones(tok)]
        if not line_phones:
            continue
        if phones[-1] != "pau":
            phones.append("pau")
        phones.extend(line_phones)
    if phones[-1] != "pau":
        phones.append("pau")
    return phones


def phone_ids(phones: list[str]) -> list[int]:
    return [PHONE_ID[p] for p in phones]


# ---------------------------------------------------------------- espeak-ng alignments
class _Event(ctypes.Structure):
    class _Id(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))
_EVENT_PHONEME = 7
_lib_lock = threading.Lock()
_lib_state: dict = {}


def _espeak_lib():
    if "lib" not in _lib_state:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            raise G2PError("libespeak-ng is not installed; run scripts/setup.sh") from None
        # synchronous output, phoneme events, phoneme names in IPA
        rate = lib.espeak_Initialize(2, 0, None, 0x0001 | 0x0002)
        if rate <= 0:
            raise G2PError("libespeak-ng failed to initialise")
        _lib_state.update(lib=lib, rate=rate)
    return _lib_state["lib"], _lib_state["rate"]


def espeak_alignment(text: str, args: tuple[str, ...] | list[str]) -> tuple[list[tuple[str, float]], int]:
    """Phone end times of `text` spoken by espeak-ng with command-line voice `args`.

    `args` are the corpus voice's options (-v VOICE -s RATE -p PITCH). Returns
    ([(phone, end_seconds)] in `PHONES`, number of samples at the library's rate).
    """
    opts = dict(zip(args[::2], args[1::2], strict=False))
    with _lib_lock:
        lib, rate = _espeak_lib()
        events: list[tuple[str, int]] = []
        total = [0]

        def cb(wav, n, ev):
            total[0] += max(n, 0)
            i = 0
            while ev[i].type != 0:
                if ev[i].type == _EVENT_PHONEME:
                    events.append((ev[i].id.string.decode("utf-8", "replace"), ev[i].sample))
                i += 1
            return 0

        keep = _CALLBACK(cb)
        lib.espeak_SetSynthCallback(keep)
        voice = opts.get("-v", "en-us").encode()
        # like the command line: by name, else by language (which also takes "+variant")
        if lib.espeak_SetVoiceByName(voice) != 0:
            sel = _Voice(None, voice, None, 0, 0, 0, 0, 0, None)
            if lib.espeak_SetVoiceByProperties(ctypes.byref(sel)) != 0:
                raise G2PError(f"espeak-ng has no voice {opts.get('-v')!r}")
        lib.espeak_SetParameter(1, int(opts.get("-s", 175)), 0)  # espeakRATE
        lib.espeak_SetParameter(3, int(opts.get("-p", 50)), 0)  # espeakPITCH
        data = text.encode("utf-8")
        lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None)
        lib.espeak_Synchronize()
        del keep
    # an event starts a phone; it ends where the next starts
    starts = [(name, s) for name, s in events]
    out: list[tuple[str, float]] = []
    for i, (name, s) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else total[0]
        if end <= s and name != "":
            continue
        for k, p in enumerate(ph := ipa_to_phones(name)):
            # split a multi-phone event evenly
            e = s + (end - s) * (k + 1) / len(ph)
            out.append((p, e / rate))
    if not out or out[0][0] != "pau":
        out.insert(0, ("pau", 0.0))
    return _merge_pauses(out), total[0]


def _merge_pauses(phones: list[tuple[str, float]]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for p, e in phones:
        if out and p == "pau" and out[-1][0] == "pau":
            out[-1] = ("pau", e)
        elif out and e <= out[-1][1] and p != "pau":
            continue  # zero-length
        else:
            out.append((p, e))
    return out


def utterance_phones(phones: list, sample_seconds: float) -> list[tuple[str, float]]:
    """flite/festival (name, end) pairs -> (phone, end) in `PHONES`, pauses merged, ends sorted."""
    out: list[tuple[str, float]] = []
    prev_end = 0.0
    for name, end in phones:
        ph = arpabet_to_phones(str(name))
        if not ph:
            continue
        end = float(end)
        start = prev_end
        for k, p in enumerate(ph):
            out.append((p, start + (end - start) * (k + 1) / len(ph)))
        prev_end = max(prev_end, end)
    return _merge_pauses(out)


def frames_from_alignment(phones: list[tuple[str, float]], n_frames: int, frame_rate: float
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-phone frame counts that sum to n_frames, for phones with end times in seconds.

    Returns (phone ids [L], durations in frames [L]); the last phone absorbs the
    remainder (the audio's trailing silence, a pause in every corpus alignment);
    phones that round to no frame are kept with duration 0 (callers drop them).
    """
    ids = np.array([PHONE_ID[p] for p, _ in phones], dtype=np.int64)
    ends = np.array([e for _, e in phones], dtype=np.float64) * frame_rate
    bounds = np.clip(np.round(ends).astype(np.int64), 0, n_frames)
    bounds = np.maximum.accumulate(bounds)
    bounds[-1] = n_frames
    dur = np.diff(np.concatenate([[0], bounds]))
    return ids, dur
