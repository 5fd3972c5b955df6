"""`tokswap heal`: short training after a transplant, toward the original model (approximate likelihood
matching across the two tokenizations) or toward a model with the same vocabulary (distillation)."""
