"""ZeTT-style hypernetwork: trained once per source model, it predicts new rows for any target tokenizer."""
