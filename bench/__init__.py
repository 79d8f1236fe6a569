"""Typewire's benchmark suite: ``make bench`` or ``.venv/bin/python -m bench`` (see run.py)."""
