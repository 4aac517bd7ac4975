"""Typed errors of the watermark package (part of its API)."""


class WatermarkError(Exception):
    """Base class for every error the watermark package raises on bad input."""


class KeyFormatError(WatermarkError):
    """A watermark key file or value is missing, truncated or malformed."""


class ConfigError(WatermarkError):
    """A watermark configuration value is out of range."""
