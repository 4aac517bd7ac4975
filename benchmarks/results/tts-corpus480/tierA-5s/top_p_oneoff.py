"""One-off: Tier A robustness with another top-p for the TTS sampler (not product code)."""
import sys
import synth.tts as T
top_p = float(sys.argv[1])
_init = T.TTS.__init__
def init(self, *a, **k):
    _init(self, *a, **k)
    self.sampler = T.SamplerSettings(top_p=top_p)
T.TTS.__init__ = init
from cli import main
sys.argv = ["voxseal"] + sys.argv[2:]
main()
