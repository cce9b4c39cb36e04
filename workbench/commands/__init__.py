"""The CLI verbs, each a thin layer over the machinery (``serve`` so far; the rest move here)."""
