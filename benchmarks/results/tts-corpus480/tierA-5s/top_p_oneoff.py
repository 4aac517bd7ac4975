"""One-off: run a `voxseal` command with another top-p for the TTS sampler (not product code).

    .venv/bin/python benchmarks/results/tts-corpus480/tierA-5s/top_p_oneoff.py P eval robustness ...
"""
import sys

import synth.tts as T
from cli import main

top_p = float(sys.argv[1])
_init = T.TTS.__init__


def init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.sampler = T.SamplerSettings(top_p=top_p)


T.TTS.__init__ = init
sys.argv = ["voxseal"] + sys.argv[2:]
main()
