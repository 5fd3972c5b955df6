"""`omp`: sparse codes over shared tokens, found in a donor that has the target tokenizer, reused in the source."""
