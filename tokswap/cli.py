"""The `tokswap` command line: every user error is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from .errors import TokswapError
from .methods import method_names

TRANSPLANT_EXAMPLES = """examples:
  tokswap transplant smollm2-135m --tokenizer gemma-3-270m -o drafter/
  tokswap transplant HuggingFaceTB/SmolLM2-135M --tokenizer google/gemma-3-270m --method subword -o drafter/
  tokswap transplant ./my-model --tokenizer ./tokenizer.json --method mean --dtype bfloat16 -o out/ --force
  tokswap transplant model.gguf --tokenizer llamacpp:llama-bpe -o out/

MODEL and TOKENIZER accept a hub id, a local Hugging Face folder, a .gguf file, a tokenizer.json
(tokenizer only), or a packaged demo: smollm2-135m, gemma-3-270m, llamacpp:NAME (gpt-2, llama-bpe,
llama-spm, qwen2, phi-3, starcoder, deepseek-coder, falcon, ...)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokswap", description="Move a pretrained language model onto another tokenizer.")
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser(
        "transplant",
        help="give MODEL the vocabulary of TOKENIZER and write a Hugging Face folder",
        epilog=TRANSPLANT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument("model", metavar="MODEL", help="the source model")
    sub.add_argument("--tokenizer", required=True, metavar="TOK", help="the target tokenizer (or a model that has it)")
    sub.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    sub.add_argument("--method", default="subword", choices=method_names(), help="how new rows are initialised (default: subword)")
    sub.add_argument("--donor", metavar="MODEL", help="a model that has the target tokenizer (methods that use one)")
    sub.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="saved weight dtype (default: the source's float dtype)")
    sub.add_argument("--device", default="cpu", help="where methods compute (default: cpu)")
    sub.add_argument("--seed", type=int, help="seed for the random method")
    sub.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    return parser


def _transplant(args: argparse.Namespace) -> int:
    from .pipeline import transplant

    options = {"seed": args.seed} if args.seed is not None else {}
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
    )
    print(json.dumps({"output": args.output, "counts": report.counts, "timings": report.timings}, indent=2))
    return 0


def _exit_on_sigterm(signum, frame) -> None:
    """Turn SIGTERM into SystemExit so a staged output folder is removed, as on Ctrl-C."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return {"transplant": _transplant}[args.command](args)
    except TokswapError as err:
        print(f"tokswap: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tokswap: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
