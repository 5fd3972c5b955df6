"""`omp`: sparse codes over shared tokens, found in a donor that has the target tokenizer, reused in the
source; rows that score tokens take their output prior from the donor. A method family: it may import only
the core."""
