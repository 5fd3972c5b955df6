"""`tokenadapt` on hand-built vectors with known neighbours and weights, on tiny vocabularies (self space and a
tiny encoder built here), its on-disk vector cache, untied models, the CLI, and user errors."""

import json
import math

import pytest
import torch
from builders import cli_error
from transformers import BertConfig, BertModel

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.checkpoint import Embeddings
from tokswap.cli import main
from tokswap.heuristics.aux_encoder import AuxEncoder, encode_tokens
from tokswap.heuristics.tokenadapt import (
    combine,
    global_entries,
    local_entries,
    ordinary_sources,
)
from tokswap.methods import FillRequest, get_method

HIDDEN = 24


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test starts with an empty auxiliary-vector cache."""
    monkeypatch.setenv("TOKSWAP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "aux-vectors"


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory, wp_tok):
    """A random one-layer BERT with the WordPiece test tokenizer: a stand-in auxiliary encoder."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(wp_tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    folder = tmp_path_factory.mktemp("encoder")
    BertModel(config).save_pretrained(folder)
    wp_tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def setting(bpe_tok, spm_tok):
    """Source: the byte-level BPE vocabulary; target: the SentencePiece one."""
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    return source, target, align(source, target, len(bpe_tok))


def _request(setting, matrix, output=None):
    source, target, plan = setting
    return FillRequest(plan, source, target, Embeddings(matrix, output))


def _dense(entries, count, columns):
    rows, cols, weights = entries
    return torch.zeros(count, columns).index_put_((rows, cols), weights, accumulate=True)


def _unit(*rows):
    return torch.nn.functional.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


def test_local_weights_follow_cosine_and_byte_length_ratio():
    source = _unit([1, 0, 0], [0, 1, 0], [1, 1, 0])
    token = _unit([1, 0, 0])
    entries = local_entries(token, source, [[0, 1]], torch.tensor([4.0]), torch.tensor([3.0, 1.0, 2.0]), temperature=0.3)
    scores = torch.tensor([(1 + 3 / 4) / 2, (0 + 1 / 4) / 2]) / 0.3
    torch.testing.assert_close(_dense(entries, 1, 3)[0, :2], torch.softmax(scores, 0))


def test_global_weights_take_the_nearest_neighbours_above_the_threshold():
    angles = torch.tensor([0.0, 0.3, 0.6, 1.2, 2.0])
    source = torch.stack([angles.cos(), angles.sin()], 1)
    token = _unit([1, 0])
    candidates = torch.tensor([4, 3, 2, 1, 0])
    rows, cols, weights = global_entries(token, torch.tensor([True]), source, candidates, k=3, temperature=0.3, threshold=0.0)
    assert rows.tolist() == [0, 0, 0] and cols.tolist() == [0, 1, 2]
    torch.testing.assert_close(weights, torch.softmax(angles[:3].cos() / 0.3, 0))
    _, cols, weights = global_entries(token, torch.tensor([True]), source, torch.arange(5), k=3, temperature=0.3, threshold=math.cos(0.5))
    assert cols.tolist() == [0, 1] and weights.sum().item() == pytest.approx(1)
    assert len(global_entries(token, torch.tensor([True]), source, torch.arange(5), k=3, temperature=0.3, threshold=0.9999)[0]) == 1
    assert len(global_entries(-token, torch.tensor([True]), source, torch.arange(5), k=3, temperature=0.3, threshold=0.5)[0]) == 0


def test_combination_and_both_fallbacks():
    """Row 0 has both estimates, row 1 only local, row 2 only global, row 3 neither."""
    local = (torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]), torch.tensor([0.25, 0.75, 1.0]))
    nearest = (torch.tensor([0, 2, 2]), torch.tensor([3, 4, 0]), torch.tensor([1.0, 0.4, 0.6]))
    mix = combine(local, nearest, 4, 5, global_weight=0.3)
    dense = mix.weights.to_dense()
    torch.testing.assert_close(dense[0], torch.tensor([0.175, 0.525, 0, 0.3, 0]))
    torch.testing.assert_close(dense[1], torch.tensor([0, 0, 1.0, 0, 0]))
    torch.testing.assert_close(dense[2], torch.tensor([0.6, 0, 0, 0, 0.4]))
    assert mix.fallback.tolist() == [False, False, False, True]
    matrix = torch.randn(5, 3)
    rows = mix.apply(matrix)
    torch.testing.assert_close(rows[:3], dense[:3] @ matrix)
    torch.testing.assert_close(rows[3], matrix.mean(0))


@pytest.mark.parametrize("aux", ["self", "encoder"])
def test_weights_sum_to_one_and_rows_are_finite(setting, encoder_folder, aux):
    method = get_method("tokenadapt", aux_model="self" if aux == "self" else str(encoder_folder))
    request = _request(setting, torch.randn(len(setting[0]), HIDDEN, generator=torch.Generator().manual_seed(0)))
    mix = method.mixture(request)
    sums = torch.sparse.sum(mix.weights, 1).to_dense()
    assert not mix.fallback.any()
    torch.testing.assert_close(sums, torch.ones(len(request.rows)))
    assert (mix.weights.values() >= 0).all() and torch.isfinite(method.fill(request).input).all()


@pytest.mark.parametrize("global_weight", [0.0, 1.0])
def test_weight_extremes_keep_one_estimate(setting, global_weight):
    """w = 0 mixes only each token's own pieces; w = 1 only its k nearest source tokens."""
    source, _, plan = setting
    matrix = torch.randn(len(source), HIDDEN, generator=torch.Generator().manual_seed(1))
    method = get_method("tokenadapt", aux_model="self", global_weight=global_weight, neighbours=2)
    dense = method.mixture(_request(setting, matrix)).weights.to_dense()
    for i, row in enumerate(plan.new):
        support = set(dense[i].nonzero()[:, 0].tolist())
        assert support <= set(plan.source_pieces[row]) if global_weight == 0 else len(support) <= 2


def test_tokens_without_pieces_use_global_alone_or_the_mean(wp_tok, bpe_tok, encoder_folder):
    """A WordPiece source cannot spell the byte-level fragments of the BPE target: no pieces, so no local estimate.
    The self space has no vector for them (the matrix mean); the encoder places those its tokenizer keeps (global
    alone); the rest, which this tiny encoder reads as nothing, fall back to the mean too."""
    source, target = byte_vocab(wp_tok), byte_vocab(bpe_tok)
    plan = align(source, target, len(wp_tok))
    empty = [i for i, row in enumerate(plan.new) if not plan.source_pieces[row]]
    assert empty
    matrix = torch.randn(len(wp_tok), HIDDEN, generator=torch.Generator().manual_seed(2))
    request = FillRequest(plan, source, target, Embeddings(matrix))
    self_mix = get_method("tokenadapt", aux_model="self").mixture(request)
    assert self_mix.fallback.nonzero()[:, 0].tolist() == empty
    torch.testing.assert_close(self_mix.apply(matrix)[empty], matrix.mean(0).expand(len(empty), -1))
    method = get_method("tokenadapt", aux_model=str(encoder_folder))
    token_vecs = method.vectors(request, ordinary_sources(source, len(wp_tok)))[1]
    placed = [i for i in empty if token_vecs[i].norm() > 0]
    assert placed
    encoder_mix = method.mixture(request)
    assert set(encoder_mix.fallback.nonzero()[:, 0].tolist()) == set(empty) - set(placed)
    dense = encoder_mix.weights.to_dense()[placed]
    assert ((dense > 0).sum(1) <= 3).all() and torch.allclose(dense.sum(1), torch.ones(len(placed)))


def test_encoded_vectors_are_cached_and_a_changed_tokenizer_misses(cache, encoder_folder, bpe_tok, spm_tok, monkeypatch):
    encoder = AuxEncoder(encoder_folder)
    calls = []
    encode = AuxEncoder.encode
    monkeypatch.setattr(AuxEncoder, "encode", lambda self, texts: calls.append(len(texts)) or encode(self, texts))
    bpe = [b for b in byte_vocab(bpe_tok).token_bytes if b is not None]
    first = encode_tokens(encoder, bpe)
    assert len(calls) == 1 and len(list(cache.iterdir())) == 1
    assert calls[0] == len(bpe)
    assert torch.equal(encode_tokens(encoder, bpe), first) and len(calls) == 1
    spm = [b for b in byte_vocab(spm_tok).token_bytes if b is not None]
    encode_tokens(encoder, spm)
    assert len(calls) == 2 and len(list(cache.iterdir())) == 2
    norms = first.norm(dim=1)
    assert (((norms - 1).abs() < 1e-2) | (norms == 0)).all() and (norms > 0).sum() > len(bpe) / 2


def test_the_neighbour_search_is_cached_by_the_exact_vectors(cache, monkeypatch):
    import tokswap.nearest as nearest

    searches = []
    search = nearest.top_inner_products
    monkeypatch.setattr(nearest, "top_inner_products", lambda *args: searches.append(1) or search(*args))
    queries, keys = torch.randn(40, 8), torch.randn(30, 8)
    first = nearest.cached_top_inner_products(queries, keys, 3)
    assert len(searches) == 1 and torch.equal(first[1], search(queries, keys, 3)[1])
    again = nearest.cached_top_inner_products(queries.clone(), keys.clone(), 3)
    assert len(searches) == 1 and all(torch.equal(a, b) for a, b in zip(first, again))
    keys[5, 0] += 1e-3
    nearest.cached_top_inner_products(queries, keys, 3)
    nearest.cached_top_inner_products(queries, keys, 2)
    assert len(searches) == 3


def test_texts_with_the_same_encoder_ids_are_encoded_once(encoder_folder):
    encoder = AuxEncoder(encoder_folder)
    seen = []
    encoder._load()[1].register_forward_hook(lambda module, args, kwargs, out: seen.append(len(kwargs["input_ids"])), with_kwargs=True)
    vectors = encoder.encode(["fox", " fox", "fox", "dog", ""])
    assert sum(seen) == 2
    assert torch.equal(vectors[0], vectors[1]) and torch.equal(vectors[0], vectors[2]) and not torch.equal(vectors[0], vectors[3])
    assert vectors[4].norm() == 0 and vectors[3].norm().item() == pytest.approx(1)


def test_runs_are_identical_with_an_empty_and_a_filled_cache(setting, encoder_folder, cache):
    matrix = torch.randn(len(setting[0]), HIDDEN, generator=torch.Generator().manual_seed(3))
    first = get_method("tokenadapt", aux_model=str(encoder_folder)).fill(_request(setting, matrix)).input
    assert any(cache.iterdir())
    second = get_method("tokenadapt", aux_model=str(encoder_folder)).fill(_request(setting, matrix)).input
    assert torch.equal(first, second)


def test_untied_output_rows_reuse_the_input_weights(setting, monkeypatch):
    source = setting[0]
    inputs, outputs = (torch.randn(len(source), HIDDEN, generator=torch.Generator().manual_seed(s)) for s in (4, 5))
    method = get_method("tokenadapt", aux_model="self")
    request = _request(setting, inputs, outputs)
    mix = method.mixture(request)
    mixtures = []
    compute = type(method).mixture
    monkeypatch.setattr(type(method), "mixture", lambda self, request: mixtures.append(1) or compute(self, request))
    rows = method.fill(request)
    assert len(mixtures) == 1, "weights recomputed for the output matrix"
    torch.testing.assert_close(rows.input, mix.apply(inputs))
    torch.testing.assert_close(rows.output, mix.apply(outputs))


@pytest.mark.parametrize("aux", ["self", "encoder"])
def test_tokenadapt_transplant_end_to_end(tmp_path, capsys, untied_model, spm_folder, encoder_folder, aux):
    from safetensors.torch import load_file

    out = tmp_path / "out"
    aux_model = "self" if aux == "self" else str(encoder_folder)
    argv = ["transplant", str(untied_model), "--tokenizer", str(spm_folder), "--method", "tokenadapt", "-o", str(out)]
    assert main([*argv, "--aux-model", aux_model, "--neighbours", "2", "--global-weight", "0.5", "--temperature", "0.2", "--threshold", "0.1"]) == 0
    report = json.loads((out / "tokswap_report.json").read_text())
    assert report["method_options"] == {"aux_model": aux_model, "neighbours": 2, "global_weight": 0.5, "temperature": 0.2, "threshold": 0.1}
    weights = load_file(out / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in weights.values())


def test_bad_options_are_one_line_errors(tmp_path, capsys, tied_model, spm_folder):
    argv = ["transplant", str(tied_model), "--tokenizer", str(spm_folder), "--method", "tokenadapt", "-o", str(tmp_path / "x")]
    assert "temperature > 0" in cli_error(capsys, *argv, "--temperature", "0")
    assert "neighbours >= 1" in cli_error(capsys, *argv, "--neighbours", "0")
    assert "no such file" in cli_error(capsys, *argv, "--aux-model", str(tmp_path / "missing/"))
    assert "encoder folder" in cli_error(capsys, *argv, "--aux-model", str(tmp_path))
    assert not (tmp_path / "x").exists()
