"""Recipes: commands made of other commands' stages, through their Python API (`tokswap drafter`: transplant,
heal, draft-vocab, export-gguf, bench-draft). They may import every capability; nothing but the command line
imports them."""
