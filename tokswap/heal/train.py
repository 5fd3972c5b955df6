"""`tokswap heal`: the student (MODEL), its teacher, and each step's loss, run by the shared training loop.

The output folder is MODEL healed, written like a transplant's (weights, config, tokenizer, report with a
`heal` section, card) beside the run's resume state, loss log and loss plot. A step's text depends only on
(seed, step, process), so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import resource
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..alignment import align
from ..byte_vocab import byte_vocab
from ..checkpoint import embedding_rows, frozen, load_causal_lm, model_embeddings
from ..contract import vocabulary_checks
from ..errors import TokswapError
from ..loading import checked_specs
from ..model_card import is_tokswap_folder, report_json, write_model_card
from ..report import REPORT_FILE
from ..specs import Spec, resolve
from ..texts import draw_windows, read_text_file, text_paths
from ..tokenizer_io import bos_prefix, load_tokenizer, save_tokenizer
from ..training.loop import LOG_FILE, TrainingRun, step_rng
from ..training.sampled_softmax import candidate_rows, positions, weighted_log_softmax
from .batches import Sequences, sequences
from .chunks import Side, chunk_sums, shared_chunks, text_ends
from .options import SOURCE_TEACHER, HealOptions
from .plot import plot_log
from .teachers import ModelTeacher, SourceTeacher, fingerprint


@dataclass
class HealReport:
    output: str
    teacher: str
    train: str
    trained_parameters: int
    steps: int
    tokens: int
    minutes: float
    tokens_per_second: float
    final: dict[str, float]
    peak_memory_gib: float
    processes: int


class Student(torch.nn.Module):
    """MODEL's body, and its output head over one step's candidate rows: log-probabilities per position."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.softcap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)

    def forward(self, inputs: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        hidden = self.model.base_model(input_ids=inputs).last_hidden_state
        logits = hidden @ self.model.get_output_embeddings().weight[rows].T
        if self.softcap:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        return weighted_log_softmax(logits, weights)


def resolved_options(options: HealOptions, report: dict | None, model: str) -> HealOptions:
    """The teacher, when not given: the source of a transplant folder."""
    teacher = options.teacher or SOURCE_TEACHER
    if teacher == SOURCE_TEACHER and report is None:
        raise TokswapError(f"{model} has no {REPORT_FILE}: --teacher source needs a tokswap transplant folder (or give --teacher MODEL with its vocabulary)")
    if options.train == "new" and report is None:
        raise TokswapError(f"--train new needs a tokswap transplant folder (its report names the source, whose rows were copied); use --train embeddings or all for {model}")
    return replace(options, teacher=teacher)


def _spec_identity(spec: Spec) -> list:
    """What cached teacher outputs depend on besides a model's name: its files' sizes and times."""
    files = sorted(spec.path.rglob("*")) if spec.path.is_dir() else [spec.path] if spec.path.is_file() else []
    return [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]


class Healer:
    """One run: MODEL as the student, its teacher, and each step's text; every input is checked before a
    model loads or OUT is written."""

    def __init__(self, model: str, data: list[str], out: str | Path, options: HealOptions):
        (self.spec,) = checked_specs(model)
        self.texts = [read_text_file(path) for path in text_paths(data)]
        self.tokenizer = load_tokenizer(self.spec)
        self.vocab = byte_vocab(self.tokenizer)
        self.rows = embedding_rows(self.spec, self.tokenizer) or len(self.vocab)
        self.report = report_json(self.spec.path) if self.spec.kind == "folder" and is_tokswap_folder(self.spec.path) else None
        self.loop = TrainingRun(out, model, resolved_options(options, self.report, model), "heal")
        self.options: HealOptions = self.loop.options
        o = self.options
        source = resolve(self.report["source"]) if self.report is not None else None
        teacher_spec = source if o.teacher == SOURCE_TEACHER else checked_specs(o.teacher)[0]
        if o.teacher != SOURCE_TEACHER:
            self._check_teacher_vocabulary(teacher_spec)
        self.new_rows = self._transplanted_rows(source) if o.train == "new" else None
        student = frozen(load_causal_lm(self.spec), self.loop.device)
        groups = self._trainable(student)
        self.trained_parameters = sum(p.numel() for g in groups for p in g["params"]) if self.new_rows is None else len(self.new_rows) * sum(m.shape[1] for m in groups[0]["params"])
        if o.teacher == SOURCE_TEACHER:
            self.teacher = SourceTeacher(teacher_spec, self.loop.device)
        else:
            self.teacher = ModelTeacher(teacher_spec, self.loop.device, self.tokenizer, o.top_k)
        self.prefix = bos_prefix(self.tokenizer)
        self.always = torch.tensor([i for i in self.vocab.unproducible() if i < self.rows], dtype=torch.long)
        self.data_key = fingerprint(self.texts, _spec_identity(teacher_spec), _spec_identity(self.spec))
        self.student = self.loop.prepare(Student(student), o.lr, 0.0, o.warmup, groups)

    def _check_teacher_vocabulary(self, teacher: Spec) -> None:
        tokenizer = load_tokenizer(teacher)
        rows = embedding_rows(teacher, tokenizer) or len(tokenizer)
        failed = [c for c in vocabulary_checks(tokenizer, self.tokenizer, rows, self.rows) if not c.ok]
        if failed:
            raise TokswapError(f"teacher {teacher.text} does not have MODEL's vocabulary ({failed[0].name}: {failed[0].detail}); a model teacher must, else use --teacher source")

    def _transplanted_rows(self, source: Spec) -> torch.Tensor:
        """The rows the transplant filled (aligning the source's vocabulary again gives the same plan), and the
        byte-fallback twins it copied from ordinary tokens: while a twin's row is its twin's, the two tie and
        split the ordinary token's probability (a bit per comma)."""
        plan = align(byte_vocab(load_tokenizer(source)), self.vocab, self.report["source_rows"], self.rows)
        return torch.tensor(sorted({*plan.new, *(i for i in self.vocab.fallback_twins() if i < self.rows)}), dtype=torch.long)

    def _trainable(self, model: torch.nn.Module) -> list[dict]:
        """Optimizer groups: the embedding matrices (only the new rows' gradients kept with --train new;
        a tied model stays tied), then with --train all every other weight at `body_lr`."""
        o = self.options
        embeddings = model_embeddings(model, self.spec.text)
        matrices = [embeddings.matrix(kind) for kind in embeddings.kinds]
        model.requires_grad_(o.train == "all")
        for matrix in matrices:
            matrix.requires_grad_(True)
            if self.new_rows is not None:
                mask = torch.zeros(matrix.shape[0], 1, device=matrix.device)
                mask[self.new_rows.to(matrix.device)] = 1
                matrix.register_hook(lambda grad, mask=mask: grad * mask)
        groups = [{"params": matrices, "lr": o.lr}]
        if o.train == "all":
            ids = {id(m) for m in matrices}
            groups.append({"params": [p for p in model.parameters() if id(p) not in ids], "lr": o.body_lr})
        return groups

    def _candidates(self, required: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(step_rng(self.options.seed, step, self.loop.process, "negatives").getrandbits(63))
        rows, weights = candidate_rows(torch.cat([required.flatten().long(), self.always]), self.rows, self.options.negatives, generator)
        return rows.to(self.loop.device), weights.to(self.loop.device)

    def _next_log_probs(self, seqs: Sequences, rows: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The student's log-probabilities over `rows` at each position, those of each next token, and which
        positions predict a text token."""
        nxt, predicted = seqs.targets()
        nxt, predicted = nxt.to(rows.device), predicted.to(rows.device)
        log_probs = self.student(seqs.inputs.to(rows.device), rows, weights)[:, :-1]
        at = positions(rows, nxt.where(predicted, rows[0])).clamp(max=len(rows) - 1)
        return log_probs, log_probs.gather(-1, at.unsqueeze(-1)).squeeze(-1), predicted

    def source_step(self, step: int, windows: list[str], ids: list[list[int]], key: str) -> tuple[torch.Tensor, dict]:
        """Likelihood matching on the chunks between byte offsets where both tokenizations have a boundary."""
        seqs = sequences(self.prefix, ids)
        data = [window.encode("utf-8") for window in windows]
        ends = [text_ends(self.vocab.token_bytes, row, d) for row, d in zip(ids, data)]
        taught = self.teacher.outputs(key, windows, [int(e[-1]) if e is not None and len(e) else 0 for e in ends])
        nxt, predicted = seqs.targets()
        _, picked, _ = self._next_log_probs(seqs, *self._candidates(nxt[predicted], step))
        student_sums, teacher_sums, sizes = [], [], []
        for i, (student_ends, d) in enumerate(zip(ends, data)):
            teacher_ids = taught[f"ids{i}"].tolist()
            teacher_ends = text_ends(self.teacher.vocab.token_bytes, teacher_ids, d)
            if student_ends is None or teacher_ends is None or not teacher_ids:
                continue
            chunks = shared_chunks(Side(student_ends, seqs.first), Side(teacher_ends, 0 if self.teacher.prefix else 1))
            student_sums.append(chunk_sums(seqs.per_token(picked, i), chunks.student, len(chunks.sizes)))
            teacher_sums.append(chunk_sums(taught[f"logp{i}"].to(picked.device), chunks.teacher, len(chunks.sizes)))
            sizes.append(chunks.sizes)
        if not sizes:
            raise TokswapError("MODEL's or the source's tokenizer does not spell the training text byte for byte (it normalizes it); --teacher source cannot compare them")
        student, teacher = torch.cat(student_sums), torch.cat(teacher_sums)
        total = float(torch.cat(sizes).sum().clamp(min=1))
        alm, ce = (student - teacher).abs().sum() / total, -student.sum() / total
        loss = alm + self.options.ce_weight * ce
        figures = {"alm": alm.item(), "student_bpb": ce.item() / math.log(2), "teacher_bpb": -teacher.sum().item() / total / math.log(2), "chunks": len(student), "bytes": int(total)}
        return loss, {**figures, "tokens": int(predicted.sum())}

    def model_step(self, step: int, windows: list[str], ids: list[list[int]], key: str) -> tuple[torch.Tensor, dict]:
        """Distillation on the teacher's top-k next-token probabilities and the rest mass."""
        seqs = sequences(self.prefix, ids)
        taught = self.teacher.outputs(key, windows, ids)
        nxt, predicted = seqs.targets()
        top = taught["ids"].long()
        rows, weights = self._candidates(torch.cat([nxt[predicted], top[predicted].flatten()]), step)
        log_probs, picked, mask = self._next_log_probs(seqs, rows, weights)
        at = positions(rows, top.to(rows.device)).clamp(max=len(rows) - 1)
        q_top = log_probs.gather(-1, at)
        p_top, p_rest = taught["logp"].to(q_top.device), taught["rest"].to(q_top.device)
        q_rest = torch.log1p(-q_top.exp().sum(-1).clamp(max=1 - 1e-6))
        if self.options.divergence == "kl":
            per_position = (p_top.exp() * (p_top - q_top)).sum(-1) + p_rest.exp() * (p_rest - q_rest)
        else:
            per_position = 0.5 * ((p_top.exp() - q_top.exp()).abs().sum(-1) + (p_rest.exp() - q_rest.exp()).abs())
        count = mask.sum().clamp(min=1)
        divergence = (per_position * mask).sum() / count
        ce = -(picked * mask).sum() / count
        agree = ((rows[log_probs.argmax(-1)] == top[..., 0].to(rows.device)) & mask).sum() / count
        loss = divergence + self.options.ce_weight * ce
        rest = (p_rest.exp() * mask).sum() / count
        figures = {self.options.divergence: divergence.item(), "ce": ce.item(), "agree": agree.item(), "teacher_rest": rest.item()}
        return loss, {**figures, "tokens": int(predicted.sum())}

    def train_step(self, step: int) -> dict:
        o = self.options
        windows = draw_windows(self.texts, step_rng(o.seed, step, self.loop.process, "windows"), o.batch_size, o.seq_len * 8)
        ids = [self.tokenizer(window, add_special_tokens=False).input_ids[: o.seq_len] for window in windows]
        key = fingerprint(self.data_key, o.seed, step, self.loop.process, o.batch_size, o.seq_len, o.top_k)
        loss, figures = (self.source_step if o.teacher == SOURCE_TEACHER else self.model_step)(step, windows, ids, key)
        self.loop.update(loss, o.clip)
        return {"loss": loss.item(), **figures}

    def save_weights(self, folder: Path) -> None:
        self.loop.unwrapped().model.save_pretrained(folder)
        save_tokenizer(self.tokenizer, self.spec, folder)

    def finish(self, section: dict) -> None:
        """The report (MODEL's, with a `heal` section; figures measured on MODEL are dropped) and the plot."""
        out = self.loop.out
        plot_log(out / LOG_FILE, out / "loss.png", f"tokswap heal {self.spec.text} (teacher {self.options.teacher})")
        if self.report is None:
            return
        report = {**{k: v for k, v in self.report.items() if k not in ("measured", "heal")}, "heal": section}
        (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        write_model_card(out, report, out.name)

    def run(self) -> HealReport | None:
        """Train until `--steps` or `--minutes`; the report on the main process only."""
        result = self.loop.run(self.train_step, self.save_weights)
        if result is None:
            return None
        o = self.options
        with (self.loop.out / LOG_FILE).open() as log:
            records = [json.loads(line) for line in log][-20:]
        losses = [k for k, v in records[-1].items() if isinstance(v, float) and k != "seconds"] if records else []
        final = {k: round(sum(r[k] for r in records) / len(records), 4) for k in losses}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform != "darwin" else 1 << 30)
        if torch.cuda.is_available() and self.loop.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated() / (1 << 30)
        report = HealReport(
            output=str(self.loop.out),
            teacher=o.teacher if o.teacher != SOURCE_TEACHER else f"source ({self.teacher.spec.text})",
            train=o.train,
            trained_parameters=self.trained_parameters,
            steps=result.steps,
            tokens=result.tokens,
            minutes=round(self.loop.seconds / 60, 2),
            tokens_per_second=round(result.tokens / max(result.seconds, 1e-9), 1),
            final=final,
            peak_memory_gib=round(peak, 2),
            processes=result.processes,
        )
        self.finish({**asdict(report), "options": asdict(o)})
        return report


def heal(model: str, data: list[str], out: str | Path, options: HealOptions) -> HealReport | None:
    """Train (or resume) MODEL toward its teacher on the text in `data`, written to `out`."""
    return Healer(model, data, out, options).run()
