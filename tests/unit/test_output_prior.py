"""Output priors: the mean output-layer input of a model, the probe that reads priors from a donor, and `omp`
setting them on the rows that score next tokens."""

from pathlib import Path

import pytest
import torch

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.checkpoint import Embeddings
from tokswap.hidden_mean import CALIBRATION_TEXTS, mean_output_input
from tokswap.loading import load_language_model
from tokswap.methods import FillRequest, get_method
from tokswap.omp.output_prior import predict_priors, prior_probe, with_priors
from tokswap.specs import Spec


def _mean_logits(model, tokenizer) -> torch.Tensor:
    logits = [model(tokenizer(text, return_tensors="pt").input_ids[:, :128]).logits[0, 1:] for text in CALIBRATION_TEXTS]
    return torch.cat(logits).mean(0)


@torch.no_grad()
def test_rows_times_the_mean_output_input_are_the_mean_logits(tied_model):
    loaded = load_language_model(str(tied_model))
    model, tokenizer = loaded.module, loaded.tokenizer
    direction = mean_output_input(model, tokenizer)
    torch.testing.assert_close(model.get_output_embeddings().weight @ direction, _mean_logits(model, tokenizer), atol=1e-5, rtol=1e-4)


def test_with_priors_moves_rows_only_along_the_direction():
    gen = torch.Generator().manual_seed(0)
    rows, direction, priors = torch.randn(50, 16, generator=gen), torch.randn(16, generator=gen), torch.randn(50, generator=gen)
    moved = with_priors(rows, priors, direction)
    torch.testing.assert_close(moved @ direction, priors)
    torch.testing.assert_close(torch.linalg.matrix_rank(torch.cat([(moved - rows), direction[None]])), torch.tensor(1))


def test_the_probe_recovers_a_linear_prior():
    gen = torch.Generator().manual_seed(1)
    features, weights = torch.randn(400, 12, generator=gen), torch.randn(12, generator=gen)
    probe = prior_probe(features, features @ weights + 3.0)
    fresh = torch.randn(20, 12, generator=gen)
    torch.testing.assert_close(predict_priors(probe, fresh), fresh @ weights + 3.0, atol=1e-2, rtol=1e-2)


@pytest.fixture(scope="module")
def linear_prior_setting(bpe_tok, spm_tok):
    """A source whose shared rows' priors along μ are an exact linear function of small donor rows (target
    tokens that copy the same source row get the same donor row)."""
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    plan = align(source, target, len(bpe_tok))
    gen = torch.Generator().manual_seed(2)
    donor = torch.randn(len(target), 8, generator=gen)
    first = {}
    for c in plan.shared:
        donor[c.target] = donor[first.setdefault(c.source, c.target)]
    weights, direction = torch.randn(8, generator=gen), torch.randn(24, generator=gen)
    matrix = torch.randn(len(source), 24, generator=gen)
    shared_source, shared_target = [c.source for c in plan.shared], [c.target for c in plan.shared]
    matrix[shared_source] = with_priors(matrix[shared_source], donor[shared_target] @ weights - 1.0, direction)
    return source, target, plan, donor, matrix, direction, donor[plan.new] @ weights - 1.0


def _fill(setting, monkeypatch, tied: bool, **options) -> Embeddings:
    """omp on the setting, with μ (which a transplant reads by running the source model) given."""
    source, target, plan, donor, matrix, direction, _ = setting
    monkeypatch.setattr("tokswap.omp.method.output_direction", lambda spec: direction)
    request = FillRequest(plan, source, target, Embeddings(matrix, None if tied else matrix.clone()), Embeddings(donor), source_spec=Spec("tiny", "folder", Path("tiny")))
    return get_method("omp", k=4, candidates=16, **options).fill(request)


def test_omp_gives_rows_that_score_tokens_the_donor_prior(linear_prior_setting, monkeypatch):
    direction, expected = linear_prior_setting[5], linear_prior_setting[6]
    untied = _fill(linear_prior_setting, monkeypatch, tied=False)
    torch.testing.assert_close(_fill(linear_prior_setting, monkeypatch, tied=True).input @ direction, expected, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(untied.output @ direction, expected, atol=1e-2, rtol=1e-2)
    for untouched in (_fill(linear_prior_setting, monkeypatch, tied=True, prior=False).input, untied.input):
        assert not torch.allclose(untouched @ direction, expected, atol=1e-1)
