"""Make `import encodec` work without torchaudio.

The encodec package (0.1.1) imports torchaudio at import time, in
`encodec/utils.py`, only for its own file loading and resampling helpers,
which VoxSeal never calls. No torchaudio release loads beside the pinned
torch 2.13 CPU build, so instead of importing a broken torchaudio we put a
placeholder module in `sys.modules` for the duration of the import. Any
attribute access on the placeholder raises a clear error, so if encodec ever
does reach for torchaudio we fail loudly instead of silently.
"""
from __future__ import annotations

import importlib
import sys
import types
from types import ModuleType


class _TorchaudioPlaceholder(types.ModuleType):
    def __getattr__(self, name: str):
        raise ImportError(
            f"torchaudio.{name} was requested by encodec, but VoxSeal does not install "
            "torchaudio (no release loads beside torch 2.13 CPU); use synth.audio instead")


def import_encodec() -> ModuleType:
    """Import and return the `encodec` package without loading torchaudio."""
    if "encodec" in sys.modules:
        return sys.modules["encodec"]
    had = "torchaudio" in sys.modules
    if not had:
        sys.modules["torchaudio"] = _TorchaudioPlaceholder("torchaudio")
    try:
        return importlib.import_module("encodec")
    finally:
        if not had:
            # Leave no placeholder behind for other code to mistake for torchaudio.
            del sys.modules["torchaudio"]
