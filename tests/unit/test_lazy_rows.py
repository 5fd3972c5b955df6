"""Embedding rows trained a step at a time: AdamW's arithmetic on the rows a step reads, nothing on the rest."""

import torch

from tokswap.checkpoint import Embeddings
from tokswap.training.lazy_rows import LazyRows


def _steps(rows: LazyRows, matrix: torch.Tensor, batches: list[torch.Tensor], target: torch.Tensor) -> None:
    for ids in batches:
        rows.take(ids, ids)
        loss = ((rows.lookup("input", ids) - target[ids]) ** 2).sum()
        loss.backward()
        rows.gradients()
        rows.step()
        rows.zero_grad()


def test_rows_read_every_step_follow_adamw_exactly():
    torch.manual_seed(0)
    start, target = torch.randn(6, 4), torch.randn(6, 4)
    lazy = start.clone()
    every = [torch.arange(6)] * 5
    _steps(LazyRows(Embeddings(lazy), lr=0.1, weight_decay=0.01), lazy, every, target)
    dense = start.clone().requires_grad_()
    adamw = torch.optim.AdamW([dense], lr=0.1, weight_decay=0.01)
    for _ in every:
        ((dense - target) ** 2).sum().backward()
        adamw.step()
        adamw.zero_grad()
    torch.testing.assert_close(lazy, dense.detach(), rtol=1e-5, atol=1e-6)


def test_rows_a_step_does_not_read_keep_their_weights_and_moments():
    torch.manual_seed(0)
    matrix, target = torch.randn(6, 4), torch.randn(6, 4)
    start = matrix.clone()
    rows = LazyRows(Embeddings(matrix), lr=0.1)
    _steps(rows, matrix, [torch.tensor([0, 1]), torch.tensor([1, 2])], target)
    assert torch.equal(matrix[3:], start[3:]) and not torch.equal(matrix[:3], start[:3])
    state = rows.state[matrix]
    assert float(state["step"]) == 2 and not state["exp_avg"][3:].any() and state["exp_avg"][0].any()
    moment = state["exp_avg"][0].clone()
    _steps(rows, matrix, [torch.tensor([2])], target)
    assert torch.equal(state["exp_avg"][0], moment)  # lazy: row 0 was not read, its moment did not decay


def test_only_trainable_rows_move_and_a_tied_matrix_is_one_leaf():
    torch.manual_seed(0)
    matrix, target = torch.randn(6, 4), torch.randn(6, 4)
    start = matrix.clone()
    trainable = torch.tensor([False, True, True, False, False, False])
    rows = LazyRows(Embeddings(matrix), lr=0.1, trainable=trainable)
    rows.take(torch.tensor([[0, 1]]), torch.tensor([1, 3]))
    assert len(rows.taken) == 1 and rows.taken[0][0].tolist() == [0, 1, 3]
    loss = ((rows.lookup("input", torch.tensor([0, 1])) - target[:2]) ** 2).sum() + rows.lookup("output", torch.tensor([3])).sum()
    loss.backward()
    (grad,) = rows.gradients()
    assert grad.shape == (1, 4)  # row 1 only: 0 and 3 are not trainable
    rows.step()
    assert torch.equal(matrix[trainable.logical_not()], start[trainable.logical_not()]) and not torch.equal(matrix[1], start[1])


def test_untied_matrices_take_their_own_rows():
    inp, out = torch.randn(5, 3), torch.randn(5, 3)
    rows = LazyRows(Embeddings(inp, out), lr=0.1)
    rows.take(torch.tensor([4, 0]), torch.tensor([2]))
    assert [ids.tolist() for ids, _ in rows.taken] == [[0, 4], [2]]
    assert torch.equal(rows.lookup("output", torch.tensor([2])), out[[2]]) and torch.equal(rows.lookup("input", torch.tensor([4])), inp[[4]])


def test_clipping_counts_the_rows_with_every_other_gradient(tmp_path, monkeypatch):
    from tokswap.options import LoopOptions
    from tokswap.training.loop import TrainingRun

    run = TrainingRun(tmp_path / "run", "m", LoopOptions(steps=1, device="cpu", warmup=1), "test")
    body, matrix = torch.nn.Linear(3, 1, bias=False), torch.zeros(4, 3)
    rows = LazyRows(Embeddings(matrix), lr=0.1)
    module = run.prepare(body, 0.1, 0.0, [{"params": list(body.parameters())}], rows)
    applied = []
    monkeypatch.setattr(rows, "step", lambda closure=None: applied.append(rows.reduced[0][1].clone()))
    rows.take(torch.tensor([1]), torch.tensor([1]))
    loss = 3 * module.weight.sum() + 4 * rows.lookup("input", torch.tensor([1])).sum()  # gradient norm sqrt(3 * 9 + 3 * 16) = sqrt(75)
    run.update(loss, clip=1.0)
    torch.testing.assert_close(applied[0], torch.full((1, 3), 4 / 75**0.5), rtol=1e-5, atol=0)
