"""What a user names, loaded: a model with its tokenizer, a target vocabulary, a donor's embeddings.

Every command goes through here, so a spec means the same thing everywhere: a source to transplant
(`load_model`: embeddings read, every other tensor left on disk to stream), a whole language model to run
(`load_language_model`), a target tokenizer with the rows its model has (`load_target`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .byte_vocab import ByteVocab, byte_vocab, first_difference
from .checkpoint import Checkpoint, Embeddings, check_weights, embedding_rows, load_causal_lm, load_checkpoint
from .errors import TokswapError
from .specs import Spec, resolve
from .tokenizer_io import load_tokenizer


def _spec(spec: str | Spec) -> Spec:
    return spec if isinstance(spec, Spec) else resolve(spec)


@dataclass
class Model:
    """A model's checkpoint with the tokenizer it was trained on."""

    spec: Spec
    weights: Checkpoint
    tokenizer: object
    vocab: ByteVocab


@dataclass
class LanguageModel:
    """A whole model, loaded to run (eval mode, GGUF dequantized to float32), with its tokenizer."""

    spec: Spec
    module: torch.nn.Module
    tokenizer: object


@dataclass
class Target:
    spec: Spec
    tokenizer: object
    vocab: ByteVocab
    rows: int


def checked_specs(*texts: str) -> list[Spec]:
    """Every model a command names, resolved and its weights checked before any is loaded: a bad one is one
    line before minutes of loading the others."""
    specs = [resolve(text) for text in texts]
    for spec in specs:
        check_weights(spec)
    return specs


def load_model(spec: str | Spec) -> Model:
    spec = _spec(spec)
    weights = load_checkpoint(spec)
    tokenizer = load_tokenizer(spec)
    return Model(spec, weights, tokenizer, byte_vocab(tokenizer))


def load_language_model(spec: str | Spec) -> LanguageModel:
    spec = _spec(spec)
    return LanguageModel(spec, load_causal_lm(spec), load_tokenizer(spec))


def load_target(spec: str | Spec) -> Target:
    spec = _spec(spec)
    tokenizer = load_tokenizer(spec)
    vocab = byte_vocab(tokenizer)
    rows = embedding_rows(spec, tokenizer)
    return Target(spec, tokenizer, vocab, len(vocab) if rows is None else rows)


def load_donor(spec: Spec, target: Target) -> Embeddings:
    """The donor's embeddings, after checking its vocabulary is the target's byte for byte."""
    vocab = target.vocab if spec == target.spec else byte_vocab(load_tokenizer(spec))
    differ = first_difference(vocab, target.vocab)
    if differ is not None:
        raise TokswapError(f"donor {spec.text} does not have the target tokenizer (vocabularies differ at id {differ})")
    return load_checkpoint(spec).embeddings
