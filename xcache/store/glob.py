"""Redis glob patterns for the storage node: see xcache/glob.py (shared with the sentinel)."""

from xcache.glob import compile_glob, glob_match

__all__ = ["compile_glob", "glob_match"]
