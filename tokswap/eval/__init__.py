"""Measuring a transplant: bits per byte (`eval`) and the drafter contract (`verify`, with llama.cpp's rule
for GGUF files). It may import the core and `gguf/`; the core never imports it."""
