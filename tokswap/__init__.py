"""tokswap: move a pretrained language model onto a different tokenizer, byte-exactly.

The public API is imported on first use, so `import tokswap` (and the command line's option checks) stay
free of torch and transformers.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "HealOptions": "tokswap.heal.options",
    "TokswapError": "tokswap.errors",
    "DrafterOptions": "tokswap.recipes.drafter_options",
    "GgufCompanion": "tokswap.gguf.companion",
    "build_hot_drafters": "tokswap.drafting.draft_vocab",
    "drafter": "tokswap.recipes.drafter",
    "export_gguf": "tokswap.gguf.export",
    "heal": "tokswap.heal.train",
    "load_drafter": "tokswap.drafting.hot_head",
    "load_model": "tokswap.loading",
    "load_target": "tokswap.loading",
    "transplant": "tokswap.pipeline",
    "transplant_embeddings": "tokswap.pipeline",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tokswap' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)
