"""The `tokswap` command line: every user error is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
import textwrap
from pathlib import Path

from .drafting.options import CalibrationOptions, DraftSettings
from .errors import TokswapError
from .methods import REGISTRY, checked_options, method_names, options_class
from .options import BUDGET, GGUF_TYPES, LoopOptions, add_flags, cli_fields, given, synopsis

TRANSPLANT_EXAMPLES = """examples:
  tokswap transplant smollm2-135m --tokenizer gemma-3-270m -o drafter/
  tokswap transplant HuggingFaceTB/SmolLM2-135M --tokenizer google/gemma-3-270m --method subword -o drafter/
  tokswap transplant ./my-model --tokenizer ./tokenizer.json --method mean --dtype bfloat16 -o out/ --force
  tokswap transplant model.gguf --tokenizer llamacpp:llama-bpe -o out/
  tokswap transplant smollm2-135m --tokenizer gemma-3-270m --method omp -o drafter/   (the target is the donor)
  tokswap transplant ./my-model --tokenizer ./tok.json --donor ./model-with-tok --method omp --k 32 -o out/
  tokswap transplant smollm2-135m --tokenizer llamacpp:llama-bpe --method tokenadapt -o out/

MODEL and TOKENIZER accept a hub id, a local Hugging Face folder, a .gguf file, a tokenizer.json
(tokenizer only), or a packaged demo: smollm2-135m, gemma-3-270m, llamacpp:NAME (gpt-2, llama-bpe,
llama-spm, qwen2, phi-3, starcoder, deepseek-coder, falcon, ...)."""


def method_options_classes() -> dict[str, type]:
    return {name: options_class(name) for name in REGISTRY}


def method_synopsis() -> str:
    """One line per method that has options: its flags with their defaults, as docs/transplant.md shows them."""
    classes = method_options_classes()
    width = max(len(name) for name in classes) + 2
    return "\n".join(f"  {name + ':':{width}s}{synopsis(cls)}" for name, cls in classes.items() if synopsis(cls))


def _with_examples(commands, name: str, help: str, epilog: str, formatter=argparse.RawDescriptionHelpFormatter) -> argparse.ArgumentParser:
    """A command whose help ends with its examples, laid out as written."""
    return commands.add_parser(name, help=help, epilog=epilog, formatter_class=formatter)


class _ArchitecturesHelp(argparse.RawDescriptionHelpFormatter):
    """export-gguf's help ends with the architectures it writes, read from the table only when the help is shown:
    the table imports gguf (and numpy), which parsing a command line must not."""

    def format_help(self) -> str:
        from .gguf.architectures import exported_architectures

        return super().format_help() + f"\n{textwrap.fill(exported_architectures(), 110)}\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokswap", description="Move a pretrained language model onto another tokenizer.")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = _with_examples(commands, "transplant", "give MODEL the vocabulary of TOKENIZER and write a Hugging Face folder", f"method options:\n{method_synopsis()}\n\n{TRANSPLANT_EXAMPLES}")
    sub.add_argument("model", metavar="MODEL", help="the source model")
    sub.add_argument("--tokenizer", required=True, metavar="TOK", help="the target tokenizer (or a model that has it)")
    sub.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    sub.add_argument("--method", default="subword", choices=method_names(), help="how new rows are initialised (default: subword)")
    sub.add_argument("--donor", metavar="MODEL", help="a model that has the target tokenizer (methods that use one)")
    sub.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="saved weight dtype (default: the source's float dtype)")
    sub.add_argument("--device", default="cpu", help="where methods compute (default: cpu)")
    add_flags(sub.add_argument_group("method options (each applies to the methods it names)"), method_options_classes())
    sub.add_argument("--gguf", metavar="FILE.gguf", help="also write the result as a GGUF llama.cpp accepts as a drafter (see export-gguf)")
    sub.add_argument("--gguf-type", choices=GGUF_TYPES, default="f16", help="weight type of --gguf (default: f16)")
    sub.add_argument("--force", action="store_true", help="replace a non-empty output folder (and an existing --gguf file)")

    _heal_parser(commands)
    _drafter_parser(commands)
    hyper = commands.add_parser("hypernet", help="train a hypernetwork that predicts embeddings for any tokenizer").add_subparsers(dest="action", required=True)
    _hypernet_train_parser(hyper)

    ev = commands.add_parser("eval", help="bits per byte and token perplexity of models on text files")
    ev.add_argument("models", nargs="+", metavar="MODEL")
    ev.add_argument("--data", nargs="+", required=True, metavar="PATH", help="text files, or folders of .txt files (one domain per file)")
    ev.add_argument("--baseline", metavar="MODEL", help="the original model on its own tokenizer, for ratios")
    ev.add_argument("--window", type=int, help="tokens per window (default: the model's context, at most 2048)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--plot", metavar="FILE.png", help="bar chart of bits per byte per domain")

    ver = commands.add_parser("verify", help="check that OUT (a folder, or a .gguf against a .gguf target) is a drop-in drafter for TARGET (exit 1 when not)")
    ver.add_argument("output", metavar="OUT", help="an output folder, or a GGUF file (llama.cpp's draft rule is applied)")
    ver.add_argument("--target", required=True, metavar="TARGET")
    ver.add_argument("--data", nargs="*", default=[], metavar="PATH", help="texts that must tokenise identically and decode back exactly")
    ver.add_argument("--golden", nargs="*", default=[], metavar="FILE.inp", help="llama.cpp golden vectors (.gguf.inp with .gguf.out beside it)")
    ver.add_argument("--json", action="store_true")

    bench = commands.add_parser("bench-draft", help="speculative decoding speed of a drafter against its target")
    bench.add_argument("--target", required=True, metavar="MODEL")
    bench.add_argument("--drafter", required=True, nargs="+", metavar="MODEL", help="one or more drafters with the target's vocabulary; a folder's draft_vocab.safetensors gives it a hot head")
    bench.add_argument("--uag", metavar="SOURCE_MODEL", help="also run Universal Assisted Generation with this original drafter")
    bench.add_argument("--prompts", nargs="+", metavar="FILE", help="one prompt per line, each file a category named by its stem (default: a built-in set of 25 prompts in 12 categories)")
    bench.add_argument("--max-new-tokens", type=int, default=64)
    add_flags(bench.add_argument_group("drafting (every drafter, UAG's included)"), {"": DraftSettings})
    bench.add_argument("--json", action="store_true")

    hot = _with_examples(commands, "draft-vocab", "copy a drafter folder with the target tokens its output head may keep (draft_vocab.safetensors)", DRAFT_VOCAB_EXAMPLES)
    hot.add_argument("model", metavar="MODEL", help="a drafter folder with the target's vocabulary")
    hot.add_argument("--target", required=True, metavar="TARGET", help="the model the drafter drafts for")
    hot.add_argument("--calibration", nargs="+", metavar="PATH", help="text files or folders of .txt files the drafter will see (besides the built-in prompts)")
    hot.add_argument("--keep", required=True, type=int, nargs="+", metavar="N", help="target tokens the drafter may propose (several: one calibration, a folder each)")
    hot.add_argument("-o", "--output", required=True, metavar="OUT", help="new drafter folder ({keep} in it names one per N)")
    add_flags(hot.add_argument_group("calibration"), {"": CalibrationOptions})
    hot.add_argument("--force", action="store_true", help="replace a non-empty output folder")

    export = _with_examples(commands, "export-gguf", "write a model folder as a GGUF file llama.cpp runs as a drafter", EXPORT_EXAMPLES, _ArchitecturesHelp)
    export.add_argument("model", metavar="MODEL", help="a tokswap output folder, or any model of an architecture listed below")
    export.add_argument("-o", "--output", required=True, metavar="FILE.gguf")
    export.add_argument("--vocab-from", metavar="TARGET", help="the target whose vocabulary is written; a GGUF's tokenizer.* keys are copied verbatim (default: the target in the folder's report when it is a GGUF, else the folder's tokenizer)")
    export.add_argument("--type", choices=GGUF_TYPES, default="f16", help="weight type (default: f16; norms stay f32)")
    export.add_argument("--force", action="store_true", help="replace an existing file")

    cache = commands.add_parser("cache", help="list what tokswap keeps between runs (models converted from GGUF, downloads, searches), or clear it")
    actions = cache.add_subparsers(dest="action")
    actions.add_parser("list", help="every entry with its size and last use (the default)")
    clear = actions.add_parser("clear", help="remove entries")
    which = clear.add_mutually_exclusive_group(required=True)
    which.add_argument("names", nargs="*", default=[], metavar="NAME", help="entries as `tokswap cache` names them")
    which.add_argument("--older-than", type=float, metavar="DAYS", help="entries unused for this many days")
    which.add_argument("--all", action="store_true", help="everything under the cache folder")
    return parser


DRAFT_VOCAB_EXAMPLES = """examples:
  tokswap draft-vocab drafter/ --target gemma-3-270m --calibration corpus/ --keep 32768 -o drafter-32k/
  tokswap draft-vocab drafter/ --target gemma-3-270m --calibration corpus/ --keep 8192 32768 -o drafter-{keep}/
  tokswap bench-draft --target gemma-3-270m --drafter drafter/ drafter-32k/ --uag smollm2-135m --draft-tokens 3

OUT is MODEL's folder unchanged plus draft_vocab.safetensors (EAGLE-3's d2t/t2d). tokswap.load_drafter(OUT)
gives a model whose output head computes only those rows, for transformers' assistant_model=."""

EXPORT_EXAMPLES = """examples:
  tokswap export-gguf drafter/ -o drafter.gguf                       (target vocabulary from the report's GGUF)
  tokswap export-gguf drafter/ -o drafter-q8.gguf --type q8_0
  tokswap export-gguf drafter/ -o drafter.gguf --vocab-from gemma-3-270m-it-Q4_K_M.gguf
  tokswap verify drafter.gguf --target gemma-3-270m-it-Q4_K_M.gguf
  llama-speculative-simple -m TARGET.gguf -md drafter.gguf --spec-type draft-simple -p "..."
"""

HYPERNET_EXAMPLES = """examples:
  tokswap hypernet train smollm2-135m --data corpus/ -o hn/ --minutes 60
  tokswap hypernet train smollm2-135m --data corpus/ -o hn/ --steps 5000 --device cuda
  accelerate launch -m tokswap.cli hypernet train smollm2-135m --data corpus/ -o hn/ --steps 20000   (several GPUs)
  tokswap transplant smollm2-135m --tokenizer gemma-3-270m --method hypernet --hypernet hn/ -o drafter/

Running again with the same -o resumes the run from its last checkpoint."""


HEAL_EXAMPLES = """examples:
  tokswap heal drafter/ --data corpus/ -o healed/ --minutes 30                      (toward the source model)
  tokswap heal drafter/ --data corpus/ -o healed/ --teacher gemma-3-270m --minutes 30  (toward the target)
  tokswap heal drafter/ -o healed/ --teacher gemma-3-270m --minutes 30   (the target answers requests; no corpus)
  tokswap heal drafter/ --data corpus/ -o healed/ --steps 2000 --train embeddings --device cuda
  accelerate launch -m tokswap.cli heal drafter/ --data corpus/ -o healed/ --steps 20000   (several GPUs)

--teacher source (the default for a transplant folder) matches the original model's likelihood of each byte
chunk both tokenizations share; a model with MODEL's vocabulary is distilled from its top-k next-token
probabilities. Running again with the same -o resumes the run from its last checkpoint."""


def add_loop_flags(parser: argparse.ArgumentParser, options: type[LoopOptions]) -> None:
    """A training command's flags: `--steps` or `--minutes` (one is required), then every other option."""
    budget = parser.add_mutually_exclusive_group(required=True)
    add_flags(budget, {"": options}, skip=tuple(f.name for f in cli_fields(options) if f.name not in BUDGET))
    add_flags(parser, {"": options}, skip=BUDGET)


def _hypernet_train_parser(commands) -> None:
    from .hypernet.options import TrainOptions

    train = _with_examples(commands, "train", "train (or resume) a hypernetwork for MODEL on a folder of text", HYPERNET_EXAMPLES)
    train.add_argument("model", metavar="MODEL", help="the source model")
    train.add_argument("--data", required=True, metavar="DIR", help="folder of .txt files to train on")
    train.add_argument("-o", "--output", required=True, metavar="HN", help="hypernetwork folder (resumed when it holds a run)")
    add_loop_flags(train, TrainOptions)


def _heal_parser(commands) -> None:
    from .heal.options import HealOptions

    heal = _with_examples(commands, "heal", "train a transplanted model (or any model) toward its source or toward a model with its vocabulary", HEAL_EXAMPLES)
    heal.add_argument("model", metavar="MODEL", help="a tokswap transplant folder, or any model with --teacher MODEL")
    heal.add_argument("--data", nargs="+", metavar="PATH", help="text files, or folders of .txt files, to train on (toward a model teacher it may be left out: the teacher then answers requests, see --requests)")
    heal.add_argument("--prompts", nargs="+", metavar="FILE", help="requests for the teacher to answer, one per line, beside the built-in bank (model teacher)")
    heal.add_argument("-o", "--output", required=True, metavar="OUT", help="the healed model folder (resumed when it holds a run)")
    add_loop_flags(heal, HealOptions)


DRAFTER_EXAMPLES = """examples:
  tokswap drafter gemma-3-270m --from smollm2-135m -o drafter/
  tokswap drafter google/gemma-3-1b-it --from HuggingFaceTB/SmolLM2-135M -o drafter/ --minutes 120 --hot-vocab 32768
  tokswap drafter target.gguf --from source.gguf -o drafter/ --prompts my-requests.txt --data my-corpus/

Transplants SOURCE onto TARGET's vocabulary, trains it toward TARGET on TARGET's own answers to requests (a
built-in bank of tasks in thirty languages, plus --prompts; windows of --data when given), optionally writes a
hot vocabulary and a GGUF (always when TARGET is a GGUF), then measures it on held-out prompts against the
untrained transplant and UAG. Running it again with the same -o resumes at the stage it stopped in."""


def _drafter_parser(commands) -> None:
    from .recipes.drafter_options import DrafterOptions

    sub = _with_examples(commands, "drafter", "build a speculative-decoding drafter for TARGET from SOURCE, trained and measured, in one command", DRAFTER_EXAMPLES)
    sub.add_argument("target", metavar="TARGET", help="the model to draft for")
    sub.add_argument("--from", required=True, dest="source", metavar="SOURCE", help="the small model the drafter is made from")
    sub.add_argument("-o", "--output", required=True, metavar="OUT", help="the drafter folder (resumed when it holds an unfinished run)")
    sub.add_argument("--prompts", nargs="+", metavar="FILE", help="requests like those the target will get, one per line, besides the built-in bank")
    sub.add_argument("--data", nargs="+", metavar="PATH", help="text files, or folders of .txt files, to train on besides the target's answers")
    add_flags(sub, {"": DrafterOptions})
    sub.add_argument("--force", action="store_true", help="replace a non-empty OUT, or a finished drafter in it")


def _drafter(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .recipes.drafter_options import DrafterOptions

    options = DrafterOptions(**given(args, DrafterOptions))
    from .recipes.drafter import drafter

    try:
        report = drafter(args.target, args.source, args.output, options, prompts=args.prompts, data=args.data, force=args.force)
    except KeyboardInterrupt:
        print(f"tokswap: interrupted; run the same command again to resume {args.output} at the stage it stopped in", file=sys.stderr)
        return 130
    print(json.dumps(asdict(report), indent=2))
    return 0


def _run_training(output: str, train) -> int:
    """A training command's run: its report printed, and the size of the state kept to resume it; Ctrl-C
    says how to resume."""
    from dataclasses import asdict

    from .cache import disk_size, human_size
    from .training.loop import RESUME_DIR

    try:
        report = train()
    except KeyboardInterrupt:
        print(f"tokswap: interrupted; run the same command again to resume from the last checkpoint in {output}", file=sys.stderr)
        return 130
    if report is not None:
        print(json.dumps(asdict(report), indent=2))
        resume = Path(output) / RESUME_DIR
        if resume.is_dir():
            print(f"tokswap: {resume} holds {human_size(disk_size(resume))} to resume this run from; delete it once the run is done", file=sys.stderr)
    return 0


def _heal(args: argparse.Namespace) -> int:
    from .heal.options import HealOptions

    options = HealOptions(**given(args, HealOptions))  # checked before the training stack is imported
    from .heal.train import heal

    return _run_training(args.output, lambda: heal(args.model, args.data, args.output, options, args.prompts))


def _hypernet(args: argparse.Namespace) -> int:
    from .hypernet.options import TrainOptions

    options = TrainOptions(**given(args, TrainOptions))  # checked before the training stack is imported
    from .hypernet.train import train

    return _run_training(args.output, lambda: train(args.model, args.data, args.output, options))


def _transplant(args: argparse.Namespace) -> int:
    options = {name: value for cls in method_options_classes().values() for name, value in given(args, cls).items()}
    checked_options(args.method, **options)  # before the pipeline's imports and any loading
    from .gguf.companion import GgufCompanion
    from .pipeline import transplant

    report = transplant(
        args.model,
        args.tokenizer,
        args.output,
        method=args.method,
        method_options=options,
        donor=args.donor,
        dtype=args.dtype,
        device=args.device,
        force=args.force,
        companion=GgufCompanion(args.gguf, args.gguf_type) if args.gguf else None,
    )
    print(json.dumps({"output": args.output, "counts": report.counts, "timings": report.timings, **({"gguf": args.gguf} if args.gguf else {})}, indent=2))
    return 0


def _exit_on_sigterm(signum, frame) -> None:
    """Turn SIGTERM into SystemExit so a staged output folder is removed, as on Ctrl-C."""
    raise SystemExit(128 + signum)


def _record(model: str, kind: str, figures: dict) -> None:
    """Figures measured on a tokswap folder go into its report and model card; a folder that cannot be written
    keeps its card, with one line saying so."""
    from .model_card import is_tokswap_folder, record_measurement

    if not is_tokswap_folder(model):
        return
    try:
        record_measurement(model, kind, figures)
    except OSError as exc:
        print(f"tokswap: note: could not record the figures in {model}: {exc.strerror or exc}", file=sys.stderr)


def _eval(args: argparse.Namespace) -> int:
    from .eval.evaluate import evaluate, format_table, plot

    report = evaluate(args.models, args.data, args.baseline, args.window)
    print(json.dumps(report.to_json(), indent=2) if args.json else format_table(report))
    figures = report.to_json()
    for model in args.models:
        _record(model, "eval", {"baseline": report.baseline, "window": args.window, "texts": figures["models"][model]})
    if args.plot:
        plot(report, args.plot)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .eval.verify import verify

    checks = verify(args.output, args.target, args.data, args.golden)
    if args.json:
        print(json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for check in checks:
            print(f"{'PASS' if check.ok else 'FAIL'}  {check.name}" + (f": {check.detail}" if check.detail else ""))
    return 0 if all(c.ok for c in checks) else 1


def _bench_draft(args: argparse.Namespace) -> int:
    from .drafting.prompts import file_prompts

    settings = DraftSettings(**given(args, DraftSettings))
    if args.max_new_tokens < 1:
        raise TokswapError("--max-new-tokens must be >= 1")
    missing = [path for path in args.prompts or [] if not Path(path).is_file()]
    if missing:
        raise TokswapError(f"{missing[0]}: no such file")
    prompts = file_prompts([Path(path) for path in args.prompts]) if args.prompts else None
    from .drafting.bench_draft import bench_draft, format_report

    progress = None if args.json else lambda r: print(f"tokswap: prompt {r.prompt + 1} ({r.category}), {r.mode}: " + (f"failed: {r.error}" if r.error else f"{r.seconds:.1f} s"), file=sys.stderr)
    report = bench_draft(args.target, args.drafter, args.uag, prompts, args.max_new_tokens, settings, progress)
    figures = report.to_json()
    print(json.dumps(figures, indent=2) if args.json else format_report(report))
    run = {"target": args.target, "prompts": args.prompts or "built-in", "max_new_tokens": args.max_new_tokens, **given(args, DraftSettings)}
    for drafter, mode in zip(args.drafter, [m for m in figures if m.startswith("drafter")]):
        _record(drafter, "bench_draft", {**run, "modes": [f for m, f in figures.items() if not m.startswith("drafter") or m == mode]})
    return 0


def _draft_vocab(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    options = CalibrationOptions(**given(args, CalibrationOptions))
    from .drafting.draft_vocab import build_hot_drafters

    reports = build_hot_drafters(args.model, args.target, args.calibration, args.keep, args.output, options, args.force)
    print(json.dumps([asdict(r) for r in reports] if len(reports) > 1 else asdict(reports[0]), indent=2))
    return 0


def _export_gguf(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from .gguf.export import export_gguf

    print(json.dumps(asdict(export_gguf(args.model, args.output, vocab_from=args.vocab_from, kind=args.type, force=args.force)), indent=2))
    return 0


def _cache(args: argparse.Namespace) -> int:
    from .cache import clear_cache, describe_cache

    if args.action == "clear":
        if args.older_than is not None and args.older_than < 0:
            raise TokswapError("--older-than must be a number of days >= 0")
        print(clear_cache(args.names, args.older_than, args.all))
    else:
        print(describe_cache())
    return 0


COMMANDS = {"transplant": _transplant, "eval": _eval, "verify": _verify, "bench-draft": _bench_draft, "draft-vocab": _draft_vocab, "heal": _heal, "drafter": _drafter, "hypernet": _hypernet, "export-gguf": _export_gguf, "cache": _cache}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return COMMANDS[args.command](args)
    except TokswapError as err:
        print(f"tokswap: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tokswap: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - a full disk, whichever library was writing (safetensors raises its own type)
        if not _disk_full(err):
            raise
        print("tokswap: error: no space left on the device; nothing was published (a heal keeps its last checkpoint: free space, e.g. finished runs' .resume/ or `tokswap cache clear`, and run it again)", file=sys.stderr)
        return 2


def _disk_full(err: BaseException) -> bool:
    """errno, or the message of a writer that gives none (safetensors' own error type, numpy's tofile under gguf's writer)."""
    return (isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)) or any(text in str(err) for text in ("No space left on device", "Not enough free space"))


if __name__ == "__main__":
    sys.exit(main())
