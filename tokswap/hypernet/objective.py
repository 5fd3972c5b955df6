"""What one training step computes: a sampled tokenizer's rows, the frozen source model's LM loss with them,
and the auxiliary loss.

Rows are built exactly as a transplant builds them (`align`): tokens whose bytes the source has are copied,
the others are predicted. The LM loss therefore trains the hypernetwork only on what it will be asked for.
The auxiliary squared error keeps predictions for tokens identical to source tokens at their source rows,
which keeps a prediction close to its spelling when the spelling is already a token.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..alignment import AlignmentPlan, align
from ..byte_vocab import ByteVocab, byte_vocab
from ..checkpoint import Embeddings, frozen, input_rows, model_embeddings, output_logits
from ..loading import load_language_model
from ..pieces import piece_means, source_pieces
from ..training.sampled_softmax import weighted_log_softmax
from .model import HypernetConfig, predict
from .sampling import SampledTokenizer, sample_tokenizer


@dataclass
class Source:
    """The frozen source model, its byte vocabulary and its embedding matrices."""

    name: str
    model: torch.nn.Module
    vocab: ByteVocab
    embeddings: Embeddings

    @property
    def rows(self) -> int:
        return self.embeddings.rows

    def to(self, device: torch.device | str) -> Source:
        self.model.to(device)
        self.embeddings = self.embeddings.map(lambda matrix: matrix.to(device))
        return self


def load_source_lm(text: str) -> Source:
    """Load a source model whole, in float32 with frozen weights (cast tensor by tensor: transformers refuses
    `.float()` on a model it read from GGUF)."""
    loaded = load_language_model(text)
    model = frozen(loaded.module, "cpu")
    return Source(text, model, byte_vocab(loaded.tokenizer), model_embeddings(model, text).map(torch.Tensor.detach))


def sampled_vocab(sampled: SampledTokenizer) -> ByteVocab:
    """A sampled tokenizer as the ByteVocab `align` reads: plain tokens, no specials."""
    n = len(sampled.token_bytes)
    return ByteVocab(sampled.token_bytes, [False] * n, {}, {}, set(), None, _encode=lambda data: [])


@dataclass
class Batch:
    """One step's data: the sampled tokenizer's alignment to the source, token ids, LM labels, and negatives:
    new tokens outside the sampled vocabulary whose predicted rows join the softmax, each standing for
    `negative_count` tokens of the large vocabulary the model will really be given."""

    plan: AlignmentPlan
    token_bytes: list[bytes]
    inputs: torch.Tensor
    labels: torch.Tensor
    negatives: list[bytes] = field(default_factory=list)
    negative_count: float = 1.0

    @property
    def tokens(self) -> int:
        return int((self.labels != -100).sum())


def sample_negatives(source: Source, sampled: SampledTokenizer, tokenizer_texts: list[str], count: int, rng: random.Random) -> list[bytes]:
    """Up to `count` tokens that a vocabulary twice as large, fitted to the same text, adds and the source lacks."""
    if count == 0:
        return []
    have = set(sampled.token_bytes) | set(source.vocab.token_bytes)
    larger = sample_tokenizer(tokenizer_texts, 2 * len(sampled.token_bytes) + count)
    pool = [data for data in larger.token_bytes if data not in have]
    return rng.sample(pool, min(count, len(pool)))


def make_batch(
    source: Source,
    texts: list[str],
    tokenizer_texts: list[str],
    vocab_size: int,
    seq_len: int,
    negatives: int = 0,
    full_vocab: int = 0,
    rng: random.Random | None = None,
) -> Batch:
    """Fit a tokenizer on `tokenizer_texts`, encode `texts` with it; right-padding is masked out of the loss.
    With `negatives`, the softmax also holds that many new tokens standing for a `full_vocab`-token vocabulary."""
    sampled = sample_tokenizer(tokenizer_texts, vocab_size)
    plan = align(source.vocab, sampled_vocab(sampled), source.rows)
    encoded = sampled.encode(texts, seq_len)
    inputs = torch.zeros(len(encoded), seq_len, dtype=torch.long)
    labels = torch.full((len(encoded), seq_len), -100, dtype=torch.long)
    for i, ids in enumerate(encoded):
        inputs[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        labels[i, : len(ids)] = inputs[i, : len(ids)]
    extra = sample_negatives(source, sampled, tokenizer_texts, negatives, rng or random.Random(0))
    stands_for = max(full_vocab - len(sampled.token_bytes), len(extra)) / max(len(extra), 1)
    return Batch(plan, sampled.token_bytes, inputs, labels, extra, stands_for)


def vocab_rows(net, config: HypernetConfig, source: Source, plan: AlignmentPlan) -> Embeddings:
    """Every sampled token's rows per matrix: shared tokens copied, the rest predicted."""
    device = source.embeddings.input.device
    shared = torch.tensor([c.target for c in plan.shared], dtype=torch.long, device=device)
    shared_source = torch.tensor([c.source for c in plan.shared], dtype=torch.long, device=device)
    new = torch.tensor(plan.new, dtype=torch.long, device=device)
    pieces = [plan.source_pieces[i] for i in plan.new]
    bases = source.embeddings.map(lambda matrix: piece_means(matrix.cpu(), pieces))
    predicted = predict(net, source.embeddings, pieces, bases, config)

    def table(kind: str) -> torch.Tensor:
        matrix = source.embeddings.matrix(kind)
        rows = matrix.new_zeros(plan.target_rows, matrix.shape[1])
        return rows.index_copy(0, shared, matrix[shared_source]).index_copy(0, new, predicted.matrix(kind))

    return Embeddings(table("input"), None if config.tied else table("output"))


def lm_loss(net, config: HypernetConfig, source: Source, batch: Batch) -> torch.Tensor:
    """Next-token cross-entropy of the frozen source model reading and predicting the sampled tokens.

    The source's BOS row (when it has one) comes first, as in evaluation; logits are over the sampled
    vocabulary, against its output rows (the input rows when tied), and over the batch's negatives, each
    weighted by the number of tokens it stands for. A real target vocabulary (Gemma-3: 209k new tokens)
    puts every new row in the softmax: without negatives, raising all new tokens' logits costs nothing in a
    few-thousand-token sampled vocabulary, and the network learns to do it.
    """
    rows = vocab_rows(net, config, source, batch.plan)
    device = rows.input.device
    inputs, labels = batch.inputs.to(device), batch.labels.to(device)
    embeds = rows.input[inputs]
    bos = source.vocab.roles.get("bos")
    if bos is not None:
        start = source.embeddings.input[bos].expand(len(inputs), 1, -1)
        embeds = torch.cat([start, embeds[:, :-1]], dim=1)
    else:
        labels = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], dim=1)
    hidden = source.model.base_model(inputs_embeds=input_rows(source.model, embeds)).last_hidden_state
    logits = output_logits(source.model, hidden, rows.matrix("output"))
    weights = logits.new_zeros(logits.shape[-1])
    if batch.negatives:
        pieces = [source_pieces(source.vocab, data, source.rows) for data in batch.negatives]
        predicted = predict(net, source.embeddings, pieces, config=config)
        logits = torch.cat([logits, output_logits(source.model, hidden, predicted.matrix("output"))], dim=-1)
        weights = torch.cat([weights, weights.new_full((len(batch.negatives),), math.log(batch.negative_count))])
    return F.nll_loss(weighted_log_softmax(logits, weights).flatten(0, 1), labels.flatten(), ignore_index=-100)


def aux_loss(net, config: HypernetConfig, source: Source, batch: Batch, count: int, rng: random.Random) -> torch.Tensor:
    """Mean squared error, in units of each matrix's scale, between predictions and source rows for up to
    `count` sampled tokens that are source tokens."""
    device = source.embeddings.input.device
    shared = batch.plan.shared if len(batch.plan.shared) <= count else rng.sample(batch.plan.shared, count)
    if not shared:
        return torch.zeros((), device=device)
    pieces = [source_pieces(source.vocab, batch.token_bytes[c.target], source.rows) for c in shared]
    predicted = predict(net, source.embeddings, pieces, config=config)
    ids = torch.tensor([c.source for c in shared], dtype=torch.long, device=device)
    errors = [((predicted.matrix(k) - source.embeddings.matrix(k)[ids]) / config.scales[k]).pow(2).mean() for k in config.kinds]
    return sum(errors) / len(config.kinds)
