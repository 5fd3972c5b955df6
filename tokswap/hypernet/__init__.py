"""ZeTT-style hypernetwork: trained once per source model (`hypernet train`), it predicts new rows for any
target tokenizer (`--method hypernet`). A method family: it may import the core and `training/`."""
