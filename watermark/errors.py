"""Typed errors of the watermark package (part of its API).

The CLI prints `str(exc)` as one line and exits with `exc.exit_code`, so every
message says what was wrong and what to do about it.
"""


class WatermarkError(Exception):
    """Base class for every error the watermark package raises on bad input."""

    exit_code: int = 2


class KeyFormatError(WatermarkError):
    """A watermark key file or value is missing, truncated or malformed."""


class ConfigError(WatermarkError):
    """A watermark configuration value is out of range."""


class ClusterMapError(WatermarkError):
    """A cluster map file or array is malformed or does not fit the vocabulary."""


class PayloadError(WatermarkError):
    """A payload does not fit the configured number of message bits."""


class TokenError(WatermarkError):
    """Token ids handed to the watermark are out of range or wrongly shaped."""
