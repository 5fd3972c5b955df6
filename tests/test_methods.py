import pytest
import torch

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.errors import TokswapError
from tokswap.methods import FillRequest, get_method, method_names


@pytest.fixture(scope="module")
def request_for(bpe_tok, spm_tok):
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    plan = align(source, target, len(bpe_tok))
    matrix = torch.randn(len(bpe_tok), 16, generator=torch.Generator().manual_seed(0))
    return lambda kind="input": FillRequest(plan, source, target, matrix, kind)


def test_registry_lists_the_foundation_methods():
    assert {"subword", "mean", "zero", "random"} <= set(method_names())


def test_subword_is_the_mean_of_the_source_pieces(request_for):
    request = request_for()
    rows = get_method("subword").fill(request)
    for position, idx in enumerate(request.rows):
        pieces = request.plan.source_pieces[idx]
        expected = request.matrix[pieces].mean(0) if pieces else request.matrix.mean(0)
        torch.testing.assert_close(rows[position], expected)


def test_baselines(request_for):
    request = request_for()
    assert torch.equal(get_method("zero").fill(request), torch.zeros(len(request.rows), 16))
    torch.testing.assert_close(get_method("mean").fill(request)[3], request.matrix.mean(0))
    first, again = get_method("random", seed=3).fill(request), get_method("random", seed=3).fill(request)
    assert torch.equal(first, again) and not torch.equal(first, get_method("random", seed=4).fill(request))


def test_unknown_method_and_option_are_user_errors():
    with pytest.raises(TokswapError, match="unknown method"):
        get_method("nope")
    with pytest.raises(TokswapError, match="no option 'k'"):
        get_method("subword", k=3)
