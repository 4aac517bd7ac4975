"""Mechanisms behind the provenance API. Nothing here is public; import from `provenance`."""
