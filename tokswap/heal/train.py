"""`tokswap heal`: the student (MODEL), its teacher, and each step's loss, run by the shared training loop.

The output folder is MODEL healed, written like a transplant's (weights in MODEL's dtype, config, tokenizer,
its hot vocabulary when it has one, report with a `heal` section, card) beside the run's loss log, loss plot
and hidden resume state. A step's text depends only on (seed, step, process), so a resumed run continues
exactly as an uninterrupted one.

The embedding matrices train a step's rows at a time (`training.lazy_rows`); the softmax over them is
sampled (`training.sampled_softmax`). What a step logs as its loss is that sampled objective; `ce`, `agree`
and `student_bpb` are exact, over every row, at `FIGURE_POSITIONS` positions of the step.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import shutil
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..alignment import align
from ..byte_vocab import byte_vocab
from ..checkpoint import embedding_rows, frozen, input_rows, load_causal_lm, model_embeddings, output_logits
from ..contract import vocabulary_checks
from ..drafting.draft_vocab_file import DRAFT_VOCAB_FILE
from ..drafting.prompts import file_prompts
from ..errors import TokswapError
from ..loading import checked_specs
from ..model_card import is_tokswap_folder, report_json, write_model_card
from ..report import REPORT_FILE
from ..specs import Spec, resolve
from ..texts import draw_windows, read_text_file, text_paths
from ..tokenizer_io import bos_prefix, load_tokenizer, save_tokenizer
from ..training.lazy_rows import LazyRows
from ..training.loop import LOG_FILE, RESUME_DIR, STATE_DIR, TrainingRun, step_rng
from ..training.sampled_softmax import candidate_rows, positions, weighted_log_softmax
from .batches import Sequences, sequences
from .chunks import Side, chunk_sums, shared_chunks, text_ends
from .diversity import WRITTEN_LOG, diversity, log_written
from .generation import Continuations, StudentContinuations, TeacherContinuations
from .openings import Openings
from .options import BODY_LR, DEFAULT_GENERATED, SOURCE_TEACHER, HealOptions
from .plot import plot_log
from .teachers import ModelTeacher, SourceTeacher, Tail, TeacherSetup, fingerprint

FIGURE_POSITIONS = 32  # per step, for the figures computed over every row


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
    """MODEL's body reading only the embedding rows a step takes (`rows`), and its output head over the step's
    candidate rows: log-probabilities per position, and the hidden states they come from."""

    def __init__(self, model: torch.nn.Module, rows: LazyRows):
        super().__init__()
        self.model = model
        self.rows = rows
        # On a CPU the student's attention takes PyTorch's plain matrix-product path: the flash-attention
        # backward took 55 ms a layer for 4 x 129 tokens here, a third of all the step's time.

    def forward(self, inputs: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.rows.take(inputs, rows)
        embeds = input_rows(self.model, self.rows.lookup("input", inputs))
        with sdpa_kernel(SDPBackend.MATH) if embeds.device.type == "cpu" else contextlib.nullcontext():
            hidden = self.model.base_model(inputs_embeds=embeds).last_hidden_state
        return weighted_log_softmax(output_logits(self.model, hidden, self.rows.lookup("output", rows)), weights), hidden

    @torch.no_grad()
    def full_log_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        """Log-probabilities over every row, in float32, for figures."""
        with torch.autocast(hidden.device.type, enabled=False):
            return F.log_softmax(output_logits(self.model, hidden.float(), self.model.get_output_embeddings().weight), dim=-1)


def fast_bfloat16(device: str | None) -> bool:
    """Whether `device` (accelerate's pick when None) multiplies bfloat16 matrices natively: a GPU that
    supports it, a CPU with AVX-512 BF16 or AMX (4x float32's speed on this project's CPU)."""
    if device != "cpu" and torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)


def resolved_options(options: HealOptions, report: dict | None, model: str, data: bool = True, prompts: bool = False) -> HealOptions:
    """The teacher, when not given: the source of a transplant folder. The shares of written windows and of
    requests among their prompts, when not given: with `data` (--data), `DEFAULT_GENERATED` of the windows
    with a model teacher (none toward the source), a request for half of the prompts with `prompts`; without,
    every window written, every prompt a request. The body's rate, by teacher. The precision `auto` stands for
    here."""
    teacher = options.teacher or SOURCE_TEACHER
    if teacher == SOURCE_TEACHER and report is None:
        raise TokswapError(f"{model} has no {REPORT_FILE}: --teacher source needs a tokswap transplant folder (or give --teacher MODEL with its vocabulary)")
    requests = options.requests if options.requests is not None else 0.0 if data and not prompts else 0.5 if data else 1.0
    if teacher == SOURCE_TEACHER:
        if not data:
            raise TokswapError("heal toward the source needs --data: the text both tokenizers read")
        if (options.generated or 0) > 0 or options.on_policy > 0 or options.mismatch_weight > 0 or prompts or requests > 0:
            raise TokswapError("--generated, --on-policy, --mismatch-weight, --requests and --prompts need a model teacher (--teacher MODEL): the source does not speak MODEL's vocabulary")
    if not data and requests < 1:
        raise TokswapError("without --data every prompt is a request: --requests must be 1 (or give --data)")
    if not data and options.generated is not None and options.generated + options.on_policy != 1:
        raise TokswapError("without --data every window is written: --generated and --on-policy must add up to 1 (or give --data)")
    generated = options.generated if options.generated is not None else 0.0 if teacher == SOURCE_TEACHER else DEFAULT_GENERATED if data else 1.0
    generated = min(generated, 1.0 - options.on_policy)
    if options.train == "new" and report is None:
        raise TokswapError(f"--train new needs a tokswap transplant folder (its report names the source, whose rows were copied); use --train embeddings or all for {model}")
    precision = options.precision if options.precision != "auto" else "bfloat16" if fast_bfloat16(options.device) else "float32"
    body_lr = options.body_lr if options.body_lr is not None else BODY_LR["source" if teacher == SOURCE_TEACHER else "model"]
    return replace(options, teacher=teacher, generated=generated, requests=requests, body_lr=body_lr, precision=precision)


@contextlib.contextmanager
def _quiet_transformers():
    """transformers' progress bars off for the duration, as they were after."""
    from transformers.utils import logging

    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


def _spec_identity(spec: Spec) -> list:
    """What cached teacher outputs depend on besides a model's name: its files' sizes and times."""
    files = sorted(spec.path.rglob("*")) if spec.path.is_dir() else [spec.path] if spec.path.is_file() else []
    return [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]


class Healer:
    """One run: MODEL as the student, its teacher, and each step's text; every input is checked before a
    model loads or OUT is written."""

    def __init__(self, model: str, data: list[str] | None, out: str | Path, options: HealOptions, prompts: list[str] | None = None):
        (self.spec,) = checked_specs(model)
        self.texts = [read_text_file(path) for path in text_paths(data or [])]
        given = file_prompts(text_paths(prompts or []))
        self.tokenizer = load_tokenizer(self.spec)
        self.vocab = byte_vocab(self.tokenizer)
        self.rows = embedding_rows(self.spec, self.tokenizer) or len(self.vocab)
        self.report = report_json(self.spec.path) if self.spec.kind == "folder" and is_tokswap_folder(self.spec.path) else None
        self.loop = TrainingRun(out, model, resolved_options(options, self.report, model, bool(self.texts), bool(given)), "heal")
        self.options: HealOptions = self.loop.options
        o = self.options
        source = resolve(self.report["source"]) if self.report is not None else None
        teacher_spec = source if o.teacher == SOURCE_TEACHER else checked_specs(o.teacher)[0]
        if o.teacher != SOURCE_TEACHER:
            self._check_teacher_vocabulary(teacher_spec)
        self.new_rows = self._transplanted_rows(source) if o.train == "new" else None
        loaded = load_causal_lm(self.spec)
        self.dtype = next(p.dtype for p in loaded.parameters() if p.is_floating_point())
        student = frozen(loaded, self.loop.device)
        groups, rows = self._trainable(student)
        embedded = sum(m.numel() for m in rows.matrices) if self.new_rows is None else len(self.new_rows) * sum(m.shape[1] for m in rows.matrices)
        self.trained_parameters = embedded + sum(p.numel() for g in groups for p in g["params"])
        self.compute_dtype = getattr(torch, o.precision)
        setup = TeacherSetup(self.loop.device, self.compute_dtype, int(o.teacher_cache_gb * 1e9))
        if o.teacher == SOURCE_TEACHER:
            self.teacher = SourceTeacher(teacher_spec, setup)
        else:
            self.teacher = ModelTeacher(teacher_spec, setup, self.tokenizer, o.top_k)
        self.prefix = bos_prefix(self.tokenizer)
        self.own = round(o.on_policy * o.batch_size)
        self.generated = round(o.generated * o.batch_size) if self.texts else o.batch_size - self.own
        self.written: list[Continuations] = []
        openings = Openings(self.tokenizer, self.texts, given, o.requests)
        if self.generated:
            key = fingerprint(_spec_identity(teacher_spec), o.precision)
            self.written.append(TeacherContinuations(self.teacher, openings, self.generated, o.seq_len, o.gen_temperature, key))
        self.always = torch.tensor([i for i in self.vocab.unproducible() if i < self.rows], dtype=torch.long)
        self.data_key = fingerprint(self.texts, openings.identity, _spec_identity(teacher_spec), _spec_identity(self.spec))
        self.student = self.loop.prepare(Student(student, rows), o.lr, 0.0, groups, rows)
        self.head = self.loop.unwrapped()
        if self.own:
            self.on_policy = StudentContinuations(self.head.model, self.prefix, self.compute_dtype, openings, self.own, o.seq_len, o.student_temperature)
            self.on_policy.load(self._on_policy_file(self.loop.out / STATE_DIR))
            self.written.append(self.on_policy)

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

    def _trainable(self, model: torch.nn.Module) -> tuple[list[dict], LazyRows]:
        """The embedding matrices, trained a step's rows at a time (only the new rows with --train new; a tied
        model stays tied), and with --train all the optimizer group of every other weight, at `body_lr`."""
        o = self.options
        model.requires_grad_(o.train == "all")
        trainable = None
        if self.new_rows is not None:
            trainable = torch.zeros(self.rows, dtype=torch.bool)
            trainable[self.new_rows] = True
        rows = LazyRows(model_embeddings(model, self.spec.text), o.lr, trainable)
        body = [p for p in model.parameters() if p.requires_grad]
        return ([{"params": body, "lr": o.body_lr}] if body else []), rows

    def _candidates(self, required: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(step_rng(self.options.seed, step, self.loop.process, "negatives").getrandbits(63))
        rows, weights = candidate_rows(torch.cat([required.flatten().long(), self.always]), self.rows, self.options.negatives, generator)
        return rows.to(self.loop.device), weights.to(self.loop.device)

    def _next_log_probs(self, seqs: Sequences, rows: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The student's log-probabilities over `rows` at each position, those of each next token, which
        positions predict a text token, and the final hidden state at every position."""
        nxt, predicted = seqs.targets()
        nxt, predicted = nxt.to(rows.device), predicted.to(rows.device)
        log_probs, hidden = self.student(seqs.inputs.to(rows.device), rows, weights)
        log_probs = log_probs[:, :-1]
        at = positions(rows, nxt.where(predicted, rows[0])).clamp(max=len(rows) - 1)
        return log_probs, log_probs.gather(-1, at.unsqueeze(-1)).squeeze(-1), predicted, hidden

    def _exact(self, hidden: torch.Tensor, seqs: Sequences, predicted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """At up to FIGURE_POSITIONS predicting positions, evenly spread: their flat index, the log-likelihood of
        their next token over every row, and the id every row's argmax picks."""
        where = predicted.flatten().nonzero().squeeze(1)
        chosen = where[torch.linspace(0, len(where) - 1, min(FIGURE_POSITIONS, len(where))).long()] if len(where) else where
        log_probs = self.head.full_log_probs(hidden[:, :-1].flatten(0, 1)[chosen])
        nxt = seqs.targets()[0].flatten().to(chosen.device)[chosen]
        return chosen, log_probs.gather(-1, nxt.unsqueeze(-1)).squeeze(-1), log_probs.argmax(-1)

    def source_step(self, step: int, windows: list[str], ids: list[list[int]], key: str) -> tuple[torch.Tensor, dict]:
        """Likelihood matching on the chunks between byte offsets where both tokenizations have a boundary."""
        seqs = sequences(self.prefix, ids)
        data = [window.encode("utf-8") for window in windows]
        ends = [text_ends(self.vocab.token_bytes, row, d) for row, d in zip(ids, data)]
        taught = self.teacher.outputs(key, windows, [int(e[-1]) if e is not None and len(e) else 0 for e in ends])
        nxt, predicted = seqs.targets()
        _, picked, mask, hidden = self._next_log_probs(seqs, *self._candidates(nxt[predicted], step))
        chosen, exact, _ = self._exact(hidden, seqs, mask)
        exact_bytes = sum(len(self.vocab.token_bytes[int(i)] or b"") for i in nxt.flatten()[chosen.cpu()])
        student_sums, teacher_sums, sizes, drift = [], [], [], []
        for i, (student_ends, d) in enumerate(zip(ends, data)):
            teacher_ids = taught[f"ids{i}"].tolist()
            teacher_ends = text_ends(self.teacher.vocab.token_bytes, teacher_ids, d)
            if student_ends is None or teacher_ends is None or not teacher_ids:
                continue
            chunks = shared_chunks(Side(student_ends, seqs.first), Side(teacher_ends, 0 if self.teacher.prefix else 1))
            student_sums.append(chunk_sums(seqs.per_token(picked, i), chunks.student, len(chunks.sizes)))
            teacher_sums.append(chunk_sums(taught[f"logp{i}"].to(picked.device), chunks.teacher, len(chunks.sizes)))
            sizes.append(chunks.sizes)
            drift.append(self._hidden_drift(seqs.after_token(hidden, i), taught[f"hidden{i}"].to(hidden.device), student_ends, teacher_ends))
        if not sizes:
            raise TokswapError("MODEL's or the source's tokenizer does not spell the training text byte for byte (it normalizes it); --teacher source cannot compare them")
        student, teacher = torch.cat(student_sums), torch.cat(teacher_sums)
        total = float(torch.cat(sizes).sum().clamp(min=1))
        alm = (student - teacher).abs().sum() / total
        hidden_loss = torch.cat(drift).mean() if sum(len(x) for x in drift) else alm.new_zeros(())
        loss = alm + self.options.hidden_weight * hidden_loss + self.options.ce_weight * -(picked * mask).sum() / mask.sum().clamp(min=1)
        figures = {
            "alm": alm.item(),
            "hidden": hidden_loss.item(),
            "ce": -exact.mean().item(),
            "student_bpb": -exact.sum().item() / max(exact_bytes, 1) / math.log(2),
            "teacher_bpb": -teacher.sum().item() / total / math.log(2),
            "chunks": len(student),
            "bytes": int(total),
        }
        return loss, {**figures, "tokens": int(predicted.sum())}

    @staticmethod
    def _hidden_drift(student: torch.Tensor, teacher: torch.Tensor, student_ends, teacher_ends) -> torch.Tensor:
        """Where both sides have read the same bytes (a token of each ends at one offset), the squared distance
        between their final hidden states, relative to the teacher's squared norm: 0 when the body computes
        what the source computed on its own tokens."""
        _, at_student, at_teacher = np.intersect1d(student_ends, teacher_ends, assume_unique=False, return_indices=True)
        s, t = student[torch.from_numpy(at_student)].float(), teacher[torch.from_numpy(at_teacher)].float()
        return (s - t).pow(2).mean(-1) / t.pow(2).mean(-1).clamp(min=1e-6)

    def model_step(self, step: int, ids: list[list[int]], tails: list[Tail | None], key: str) -> tuple[torch.Tensor, dict]:
        """Distillation on the teacher's top-k next-token probabilities and the rest mass."""
        seqs = sequences(self.prefix, ids)
        taught = self.teacher.outputs(key, ids, tails)
        nxt, predicted = seqs.targets()
        top = taught["ids"].long()
        rows, weights = self._candidates(torch.cat([nxt[predicted], top[predicted].flatten()]), step)
        log_probs, picked, mask, hidden = self._next_log_probs(seqs, rows, weights)
        chosen, exact, argmax = self._exact(hidden, seqs, mask)
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
        emphasis = mask.float()
        if self.options.mismatch_weight:
            emphasis = emphasis * (1 + self.options.mismatch_weight * (rows[log_probs.detach().argmax(-1)] != top[..., 0].to(rows.device)))
        loss = (per_position * emphasis).sum() / emphasis.sum().clamp(min=1) + self.options.ce_weight * -(picked * mask).sum() / count
        agree = (argmax == top[..., 0].flatten().to(argmax.device)[chosen]).float().mean()
        rest = (p_rest.exp() * mask).sum() / count
        figures = {self.options.divergence: divergence.item(), "ce": -exact.mean().item(), "agree": agree.item(), "teacher_rest": rest.item()}
        return loss, {**figures, "tokens": int(predicted.sum())}

    def train_step(self, step: int) -> dict:
        o = self.options
        windows = draw_windows(self.texts, step_rng(o.seed, step, self.loop.process, "windows"), o.batch_size - self.generated - self.own, o.seq_len * 8)
        ids = [self.tokenizer(window, add_special_tokens=False).input_ids[: o.seq_len] for window in windows]
        written = [row for source in self.written for row in source.for_step(o.seed, step, self.loop.process)]
        if written:
            log_written(self._written_log(), step, written)
        ids, tails = ids + [row.ids for row in written], [None] * len(ids) + [row.tail for row in written]
        key = fingerprint(self.data_key, o.seed, step, self.loop.process, o.batch_size, o.seq_len, o.top_k, o.precision, ids)
        with torch.autocast(self.loop.device.type, dtype=self.compute_dtype, enabled=self.compute_dtype != torch.float32):
            loss, figures = self.source_step(step, windows, ids, key) if o.teacher == SOURCE_TEACHER else self.model_step(step, ids, tails, key)
        self.loop.update(loss, o.clip)
        return {"loss": loss.item(), **figures}

    def _written_log(self, process: int | None = None) -> Path:
        return self.loop.out / RESUME_DIR / WRITTEN_LOG.format(process=self.loop.process if process is None else process)

    def _on_policy_file(self, state: Path) -> Path:
        return state / f"on-policy-{self.loop.process}.safetensors"

    def save_process(self, state: Path) -> None:
        """This process's block of its own continuations, which a resumed run cannot write again."""
        if self.own:
            self.on_policy.save(self._on_policy_file(state))

    def save_weights(self, folder: Path) -> None:
        """The weights in MODEL's own dtype (training runs in float32), its tokenizer and hot vocabulary."""
        model = self.head.model
        state = {name: t.to(self.dtype) if t.is_floating_point() else t for name, t in model.state_dict().items()}
        with _quiet_transformers():  # a progress bar of one shard at every checkpoint says nothing
            model.save_pretrained(folder, state_dict=state)
        config = json.loads((folder / "config.json").read_text())  # transformers names the float32 it trains in
        (folder / "config.json").write_text(json.dumps({**config, "dtype": str(self.dtype).removeprefix("torch.")}, indent=2, sort_keys=True) + "\n")
        save_tokenizer(self.tokenizer, self.spec, folder)
        if self.spec.kind == "folder" and (self.spec.path / DRAFT_VOCAB_FILE).is_file():
            shutil.copy2(self.spec.path / DRAFT_VOCAB_FILE, folder / DRAFT_VOCAB_FILE)  # the target's tokens, as before

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
        result = self.loop.run(self.train_step, self.save_weights, self.save_process)
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
        logs = [self._written_log(p) for p in range(result.processes) if self._written_log(p).is_file()]
        written = diversity(logs, self.tokenizer) if logs else None
        self.finish({**asdict(report), "options": asdict(o), "written": asdict(written) if written else None})
        return report


def heal(model: str, data: list[str] | None, out: str | Path, options: HealOptions, prompts: list[str] | None = None) -> HealReport | None:
    """Train (or resume) MODEL toward its teacher on the text in `data` and the teacher's continuations of it;
    without `data` (a model teacher), on the teacher's answers to requests (the built-in bank and the prompt
    files in `prompts`). Written to `out`."""
    return Healer(model, data, out, options, prompts).run()
