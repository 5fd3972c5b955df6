import pytest
import torch

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.checkpoint import Embeddings
from tokswap.errors import TokswapError
from tokswap.methods import FillRequest, get_method, method_names


@pytest.fixture(scope="module")
def request_for(bpe_tok, spm_tok):
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    plan = align(source, target, len(bpe_tok))
    matrices = [torch.randn(len(bpe_tok), 16, generator=torch.Generator().manual_seed(seed)) for seed in (0, 1)]
    return lambda tied=True: FillRequest(plan, source, target, Embeddings(matrices[0], None if tied else matrices[1]))


def test_registry_lists_the_foundation_methods():
    assert {"subword", "mean", "zero", "random"} <= set(method_names())


@pytest.mark.parametrize("tied", [True, False])
def test_subword_is_the_mean_of_the_source_pieces(request_for, tied):
    request = request_for(tied)
    rows = get_method("subword").fill(request)
    assert rows.kinds == request.source.kinds
    for kind in rows.kinds:
        matrix = request.source.matrix(kind)
        for position, idx in enumerate(request.rows):
            pieces = request.plan.source_pieces[idx]
            expected = matrix[pieces].mean(0) if pieces else matrix.mean(0)
            torch.testing.assert_close(rows.matrix(kind)[position], expected)


def test_baselines(request_for):
    request = request_for()
    matrix = request.source.input
    assert torch.equal(get_method("zero").fill(request).input, torch.zeros(len(request.rows), 16))
    torch.testing.assert_close(get_method("mean").fill(request).input[3], matrix.mean(0))
    first, again = get_method("random", seed=3).fill(request).input, get_method("random", seed=3).fill(request).input
    assert torch.equal(first, again) and not torch.equal(first, get_method("random", seed=4).fill(request).input)
    untied = get_method("random", seed=3).fill(request_for(tied=False))
    assert torch.equal(untied.input, first) and not torch.equal(untied.output, first)


def test_unknown_method_and_option_are_user_errors():
    with pytest.raises(TokswapError, match="unknown method"):
        get_method("nope")
    with pytest.raises(TokswapError, match="no option 'k'"):
        get_method("subword", k=3)
