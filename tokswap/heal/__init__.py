"""`tokswap heal`: short training after a transplant, toward the original model (approximate likelihood
matching across the two tokenizations) or toward a model with the same vocabulary (distillation). It may
import the core, `training/` and `drafting/`'s file formats; the core never imports it."""
