"""How much of what the target says, per prompt category, each hot vocabulary covers.

    python benchmarks/hot_coverage.py HOT_FOLDER... [--target gemma-3-270m] [--dev ../shared/corpus/dev]
        [--per-domain 4] [--prompts benchmarks/held_out_prompts/*.txt] [--new-tokens 64]

The target greedily continues bench-draft's built-in prompts (by category), `--per-domain` lines cut from each
dev text (category `dev:NAME`) and the `--prompts` files (category `held-out:STEM`: prompts of the built-in
kinds that no calibration sees); each folder's `draft_vocab.safetensors` is scored by the share of those
generated tokens it keeps. `draft-vocab` reports the same share on its own calibration prompts; the dev and
held-out categories are held out for every folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from measure import dev_prompts

from tokswap.checkpoint import load_causal_lm
from tokswap.drafting.calibration import continuations, tokenize
from tokswap.drafting.draft_vocab import stop_ids
from tokswap.drafting.draft_vocab_file import read_draft_vocab
from tokswap.drafting.prompts import BUILT_IN_PROMPTS, file_prompts
from tokswap.specs import resolve
from tokswap.tokenizer_io import load_tokenizer

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
HELD_OUT = Path(__file__).resolve().parent / "held_out_prompts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--target", default="gemma-3-270m")
    parser.add_argument("--dev", type=Path, default=CORPUS / "dev")
    parser.add_argument("--per-domain", type=int, default=4)
    parser.add_argument("--prompts", type=Path, nargs="*", default=sorted(HELD_OUT.glob("*.txt")))
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    spec = resolve(args.target)
    model, tokenizer = load_causal_lm(spec), load_tokenizer(spec)
    prompts = [(p.category, p.text) for p in BUILT_IN_PROMPTS]
    for path in sorted(args.dev.glob("*.txt")):
        prompts += [(f"dev:{path.stem}", text) for text in dev_prompts(args.dev, (path.stem,), args.per_domain)]
    prompts += [(f"held-out:{p.category}", p.text) for p in file_prompts(args.prompts)]
    names = list(dict.fromkeys(category for category, _ in prompts))
    labels = [names.index(category) for category, _ in prompts]
    counts, _ = continuations(model, tokenizer, tokenize(tokenizer, [text for _, text in prompts]), labels, len(names), args.new_tokens, 16, stop_ids(model, tokenizer))
    figures = {}
    for folder in args.folders:
        kept = read_draft_vocab(Path(folder)).target_ids
        figures[folder] = {name: float(c[kept].sum() / c.sum()) for name, c in zip(names, counts) if c.sum() > 0}
    print(json.dumps({"generated_tokens": {name: int(c.sum()) for name, c in zip(names, counts)}, "coverage": figures}, indent=2))


if __name__ == "__main__":
    main()
