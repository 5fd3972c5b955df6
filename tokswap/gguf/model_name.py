"""The `general.name` a GGUF is written with: llama.cpp reads more than a name from it.

llama.cpp sets token attributes by the model's name (`llama-vocab.cpp`): a name containing "phi-3" or "phi3"
gets Phi-3's rules, which look up `</s>`, `<unk>`, `<s>` and `<|endoftext|>` by text and stop the load on a
vocabulary without them; "modern-bert" does the same with `[MASK]`. So a drafter's name carries such a
marker exactly when the GGUF its vocabulary comes from does, whatever the file is called.
"""

from __future__ import annotations

import re

# llama.cpp's name markers (lower-cased name, substring match) and the same words written so none matches.
NAME_MARKERS = {"phi-3": "phi 3", "phi3": "phi 3", "modern-bert": "modern bert"}


def name_markers(name: str) -> list[str]:
    return [marker for marker in NAME_MARKERS if marker in name.lower()]


def gguf_model_name(stem: str, vocabulary_name: str | None) -> str:
    """`stem` with llama.cpp's markers broken up, naming the vocabulary's own GGUF when that one has a marker."""
    for marker, plain in NAME_MARKERS.items():
        stem = re.sub(re.escape(marker), plain, stem, flags=re.IGNORECASE)
    if vocabulary_name and name_markers(vocabulary_name):
        return f"{stem} (vocabulary of {vocabulary_name})"
    return stem
