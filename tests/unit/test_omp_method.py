"""The `omp` method on tiny vocabularies: exact sparse donors, untied matrices, short donors, and user errors."""

import json

import pytest
import torch
from builders import cli_error

from tokswap.alignment import align
from tokswap.byte_vocab import byte_vocab
from tokswap.checkpoint import Embeddings
from tokswap.cli import main
from tokswap.methods import FillRequest, get_method

DONOR_HIDDEN = 256


@pytest.fixture(scope="module")
def setting(bpe_tok, spm_tok):
    """Source: the byte-level BPE vocabulary; target and donor: the SentencePiece one."""
    source, target = byte_vocab(bpe_tok), byte_vocab(spm_tok)
    plan = align(source, target, len(bpe_tok))
    return source, target, plan


def _affine_donor(plan, rows: int, seed: int) -> tuple[torch.Tensor, dict[int, tuple[list[int], torch.Tensor]]]:
    """Random donor rows for shared tokens; each new token an affine combination (weights sum to 1) of three."""
    gen = torch.Generator().manual_seed(seed)
    donor = torch.randn(rows, DONOR_HIDDEN, generator=gen)
    shared = [c.target for c in plan.shared]
    recipes = {}
    for row in plan.new:
        picks = [shared[i] for i in torch.randperm(len(shared), generator=gen)[:3].tolist()]
        weights = torch.rand(3, generator=gen) + 0.2
        weights = weights / weights.sum()
        donor[row] = weights @ donor[picks]
        recipes[row] = (picks, weights)
    return donor, recipes


def _expected(plan, matrix: torch.Tensor, recipes) -> torch.Tensor:
    to_source = {c.target: c.source for c in plan.shared}
    return torch.stack([weights @ matrix[[to_source[p] for p in picks]] for picks, weights in (recipes[r] for r in plan.new)])


@pytest.mark.parametrize("anchor", ["subword", "mean"])
def test_exact_sparse_donor_rows_give_the_same_combination_of_source_rows(setting, anchor):
    source, target, plan = setting
    donor, recipes = _affine_donor(plan, len(target), seed=0)
    matrix = torch.randn(len(source), 24, generator=torch.Generator().manual_seed(1))
    method = get_method("omp", k=24, candidates=len(plan.shared), anchor=anchor, calibrate=False, ridge=0.0)
    rows = method.fill(FillRequest(plan, source, target, Embeddings(matrix), Embeddings(donor))).input
    torch.testing.assert_close(rows, _expected(plan, matrix, recipes), atol=1e-4, rtol=1e-4)


def test_untied_rows_use_the_donor_output_matrix(setting):
    source, target, plan = setting
    donor_in, input_recipes = _affine_donor(plan, len(target), seed=2)
    donor_out, recipes = _affine_donor(plan, len(target), seed=3)
    inputs, output = (torch.randn(len(source), 24, generator=torch.Generator().manual_seed(seed)) for seed in (10, 4))
    method = get_method("omp", k=24, candidates=len(plan.shared), calibrate=False, ridge=0.0)
    rows = method.fill(FillRequest(plan, source, target, Embeddings(inputs, output), Embeddings(donor_in, donor_out)))
    torch.testing.assert_close(rows.output, _expected(plan, output, recipes), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(rows.input, _expected(plan, inputs, input_recipes), atol=1e-4, rtol=1e-4)


def test_a_tied_donor_codes_once_for_both_matrices_of_an_untied_source(setting, monkeypatch):
    import tokswap.omp.method as omp_method

    source, target, plan = setting
    donor, recipes = _affine_donor(plan, len(target), seed=2)
    inputs, output = (torch.randn(len(source), 24, generator=torch.Generator().manual_seed(seed)) for seed in (11, 12))
    searches = []
    coded = omp_method.sparse_codes
    monkeypatch.setattr(omp_method, "sparse_codes", lambda *args, **kwargs: searches.append(1) or coded(*args, **kwargs))
    method = get_method("omp", k=24, candidates=len(plan.shared), calibrate=False, ridge=0.0)
    rows = method.fill(FillRequest(plan, source, target, Embeddings(inputs, output), Embeddings(donor)))
    assert len(searches) == 1
    for matrix, filled in ((inputs, rows.input), (output, rows.output)):
        torch.testing.assert_close(filled, _expected(plan, matrix, recipes), atol=1e-4, rtol=1e-4)


def test_calibration_gives_corrections_the_donor_relative_length(setting):
    source, target, plan = setting
    donor, _ = _affine_donor(plan, len(target), seed=0)
    matrix = torch.randn(len(source), 24, generator=torch.Generator().manual_seed(1)) * 5
    request = FillRequest(plan, source, target, Embeddings(matrix), Embeddings(donor))
    method = get_method("omp", k=24, candidates=len(plan.shared), anchor="mean", gate=False)
    queries, atoms = method.problem(donor, plan, plan.new)
    shared = matrix[[c.source for c in plan.shared]]
    centre = shared.mean(0)
    corrections = method.fill(request).input - centre
    spread = lambda rows: rows.pow(2).sum(1).mean().sqrt()
    torch.testing.assert_close(corrections.norm(dim=1) / spread(shared - centre), queries.norm(dim=1) / spread(atoms), rtol=1e-4, atol=1e-5)


def test_gate_scales_corrections_by_the_share_of_the_donor_correction_explained(setting):
    from tokswap.omp.pursuit import sparse_codes

    source, target, plan = setting
    donor = torch.randn(len(target), 32, generator=torch.Generator().manual_seed(7))
    matrix = torch.randn(len(source), 24, generator=torch.Generator().manual_seed(8))
    request = FillRequest(plan, source, target, Embeddings(matrix), Embeddings(donor))
    options = {"k": 4, "candidates": len(plan.shared), "anchor": "mean"}
    centre = matrix[[c.source for c in plan.shared]].mean(0)
    gated, plain = ((get_method("omp", gate=gate, **options).fill(request).input - centre).norm(dim=1) for gate in (True, False))
    method = get_method("omp", **options)
    queries, atoms = method.problem(donor, plan, plan.new)
    codes = sparse_codes(queries, atoms, 4, None, progress=False, ridge=method.ridge)
    residual = (queries - codes.combine(atoms)).norm(dim=1) / queries.norm(dim=1)
    assert residual.min() > 0.3
    torch.testing.assert_close(gated / plain, 1 - residual**2, rtol=1e-4, atol=1e-5)


def test_target_ids_beyond_the_donor_rows_fall_back_to_subword(setting):
    source, target, plan = setting
    short = max(plan.new) - 1
    donor = torch.randn(short, DONOR_HIDDEN, generator=torch.Generator().manual_seed(5))
    matrix = torch.randn(len(source), 24, generator=torch.Generator().manual_seed(6))
    request = FillRequest(plan, source, target, Embeddings(matrix), Embeddings(donor))
    rows = get_method("omp", k=8, candidates=16).fill(request).input
    subword = get_method("subword").fill(request).input
    beyond = [i for i, row in enumerate(plan.new) if row >= short]
    assert beyond and torch.equal(rows[beyond], subword[beyond])
    assert torch.isfinite(rows).all() and (rows.norm(dim=1) > 0).all()


def test_omp_transplant_end_to_end_and_errors(tmp_path, capsys, tied_model, spm_tok, bpe_folder):
    from builders import tiny_llama

    donor = tiny_llama(tmp_path / "donor", spm_tok, seed=9)
    out = tmp_path / "out"
    assert main(["transplant", str(tied_model), "--tokenizer", str(donor), "--method", "omp", "-o", str(out)]) == 0
    assert (out / "model.safetensors").is_file()
    plain = tmp_path / "plain"
    assert main(["transplant", str(tied_model), "--tokenizer", str(donor), "--method", "omp", "--no-prior", "--no-gate", "-o", str(plain)]) == 0
    assert json.loads((plain / "tokswap_report.json").read_text())["method_options"] == {"gate": False, "prior": False}
    capsys.readouterr()
    assert "does not have the target tokenizer" in cli_error(
        capsys, "transplant", str(tied_model), "--tokenizer", str(donor), "--donor", str(tied_model), "--method", "omp", "-o", str(tmp_path / "x")
    )
    assert "needs --donor" in cli_error(capsys, "transplant", str(tied_model), "--tokenizer", str(bpe_folder), "--method", "omp", "-o", str(tmp_path / "y"))
    for option in (["--rounds", "0"], ["--ridge", "-1"]):
        assert "rounds >= 1, ridge >= 0" in cli_error(capsys, "transplant", str(tied_model), "--tokenizer", str(donor), "--method", "omp", *option, "-o", str(tmp_path / "z"))
    assert not any((tmp_path / name).exists() for name in "xyz")
