"""tokswap: move a pretrained language model onto a different tokenizer, byte-exactly."""

from .errors import TokswapError
from .pipeline import load_model, load_target, transplant, transplant_embeddings

__all__ = ["TokswapError", "load_model", "load_target", "transplant", "transplant_embeddings"]
