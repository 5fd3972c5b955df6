"""GGUF as an input format, part of the core: a GGUF's metadata and its tokenizer read the way llama.cpp reads
them (checked against llama.cpp's golden vectors), and a GGUF model converted once into a cached Hugging Face
folder. Loading reads `.gguf` specs through it; it may import the core and nothing else. Writing GGUF is
`gguf/`."""
