"""GGUF for llama.cpp, the output side: the vocabulary llama.cpp reads and its rule for pairing a drafter with a
target, the architectures llama.cpp runs, and `export-gguf` (also behind `transplant --gguf`). It may import
the core (which reads GGUF through `gguf_reading/`), never `eval/`, `drafting/`, `heal/` or a method family;
the core never imports it."""
