"""What every training command shares: the resumable loop on accelerate, and the softmax over a sample of a
large vocabulary's rows. `hypernet train` and `heal` build on it; it may import only the core."""
