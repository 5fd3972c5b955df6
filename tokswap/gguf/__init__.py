"""GGUF and llama.cpp: reading a GGUF's metadata and tokenizer the way llama.cpp does (checked against
llama.cpp's golden vectors), converting a GGUF model once into a cached Hugging Face folder, the vocabulary
llama.cpp reads and its rule for pairing a drafter with a target, the architectures llama.cpp runs, and
`export-gguf`. The core reads `.gguf` specs through it; it may import the core, never `eval/`, `drafting/`,
`heal/` or a method family."""
