"""CLI commands of the synth package (codec, corpus, training)."""
COMMANDS: list = []
