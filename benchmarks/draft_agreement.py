"""Tokens per target call of greedy drafting, computed from one forward pass per drafter.

In greedy speculative decoding with a fixed draft length γ, the target's output is its own greedy
continuation, and a round accepts the drafter's proposals up to the first that differs from it. A proposal
that matches leaves the drafter reading exactly the target's tokens, so the drafter's k-th proposal of a
round is its greedy token given the target's prefix: the accepted tokens of every round follow from the
drafter's teacher-forced greedy tokens on the target's continuation. This benchmark generates the target's
greedy continuation of each prompt once (kept in `--work`), then for each drafter counts where its greedy
token is the target's and replays the rounds: tokens per target call = generated tokens / rounds, each round
adding its accepted tokens and the target's own next one. `bench-draft` measures the same on real decoding
(and UAG, which this cannot); this is the yardstick for comparing many drafters quickly.

    python benchmarks/draft_agreement.py --target gemma-3-270m --drafter drafter/ healed/ --prompts en.txt code.txt
        --work agree/ [--new-tokens 64] [--draft-tokens 3]

Each `--prompts` file is one category (named by its stem), one prompt per line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from tokswap.drafting.hot_head import load_drafter
from tokswap.loading import load_language_model
from tokswap.texts import read_lines


def target_continuations(target: str, prompts: dict[str, list[str]], new_tokens: int, cache: Path) -> dict[str, list[tuple[list[int], list[int]]]]:
    """Per category, each prompt's token ids and the target's greedy continuation (up to its end token)."""
    if cache.is_file():
        return {k: [tuple(pair) for pair in v] for k, v in json.loads(cache.read_text()).items()}
    lm = load_language_model(target)
    tokenizer, model = lm.tokenizer, lm.module
    ends = model.generation_config.eos_token_id
    ends = set(ends if isinstance(ends, list) else [ends])
    out = {}
    for category, lines in prompts.items():
        pairs = []
        for line in lines:
            ids = tokenizer(line).input_ids
            with torch.no_grad():
                full = model.generate(torch.tensor([ids]), max_new_tokens=new_tokens, do_sample=False, top_k=None, top_p=None)[0, len(ids) :].tolist()
            stop = next((i + 1 for i, token in enumerate(full) if token in ends), len(full))
            pairs.append((ids, full[:stop]))
        out[category] = pairs
    cache.write_text(json.dumps(out))
    return out


def rounds(matches: list[bool], draft_tokens: int) -> tuple[int, int]:
    """Target calls and accepted draft tokens for greedy drafting over a continuation whose positions the
    drafter matches as given."""
    calls = accepted = position = 0
    while position < len(matches):
        run = 0
        while run < draft_tokens and position + run < len(matches) and matches[position + run]:
            run += 1
        calls += 1
        accepted += run
        position += run + 1
    return calls, accepted


@torch.no_grad()
def drafter_matches(folder: str, pairs: list[tuple[list[int], list[int]]]) -> list[list[bool]]:
    """For each continuation, whether the drafter's greedy token (given the target's prefix) is the target's."""
    model = load_drafter(folder).module.float().eval()
    out = []
    for prompt, continuation in pairs:
        inputs = torch.tensor([prompt + continuation])
        greedy = model(inputs).logits[0, len(prompt) - 1 : -1].argmax(-1)
        out.append((greedy == torch.tensor(continuation)).tolist())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True)
    parser.add_argument("--drafter", nargs="+", required=True)
    parser.add_argument("--prompts", nargs="+", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--draft-tokens", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    prompts = {path.stem: read_lines(path) for path in args.prompts}
    pairs = target_continuations(args.target, prompts, args.new_tokens, args.work / f"target-{args.new_tokens}.json")
    results_file = args.work / "agreement.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    for folder in args.drafter:
        for category, category_pairs in pairs.items():
            key = f"{folder}|{category}"
            if key not in results:
                results[key] = drafter_matches(folder, category_pairs)
                results_file.write_text(json.dumps(results))
    header = "".join(f"{c:>12s}" for c in [*pairs, "all"])
    for gamma in args.draft_tokens:
        print(f"\ntokens per target call, {gamma} drafted per round (agreement in brackets)\n{'drafter':40s}{header}")
        for folder in args.drafter:
            cells, total_tokens, total_calls, total_matches, total_positions = [], 0, 0, 0, 0
            for category in pairs:
                matches = results[f"{folder}|{category}"]
                calls = sum(rounds(m, gamma)[0] for m in matches)
                tokens = sum(len(m) for m in matches)
                agree = sum(sum(m) for m in matches)
                cells.append(f"{tokens / max(calls, 1):.2f} ({agree / max(tokens, 1):.2f})")
                total_tokens, total_calls, total_matches, total_positions = total_tokens + tokens, total_calls + calls, total_matches + agree, total_positions + tokens
            cells.append(f"{total_tokens / max(total_calls, 1):.2f} ({total_matches / max(total_positions, 1):.2f})")
            print(f"{folder[-40:]:40s}" + "".join(f"{c:>12s}" for c in cells))


if __name__ == "__main__":
    main()
