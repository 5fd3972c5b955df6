"""Byte-fallback twins on real text: how often a twin (`<0x2C>`) scores at least its ordinary token (`,`), how
often the greedy token is a twin, and how much probability the twins take.

    python benchmarks/twin_logits.py FOLDER... [--data ../shared/corpus/dev] [--chars 8000] [--window 512]

Every position of the first `--chars` characters of each text in `--data`, in windows of `--window` tokens
(the eval windows), through each folder's own output head.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tokswap.byte_vocab import byte_vocab
from tokswap.eval.bits_per_byte import windows
from tokswap.texts import text_files
from tokswap.tokenizer_io import bos_prefix

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@torch.no_grad()
def measure(folder: str, texts: dict[str, str], window: int) -> dict:
    model, tokenizer = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    pairs = byte_vocab(tokenizer).twin_tokens()
    twins, ordinary = torch.tensor(list(pairs)), torch.tensor(list(pairs.values()))
    totals = {"positions": 0, "any_twin_at_least_ordinary": 0, "pairs_at_least": 0, "greedy_twin": 0, "twin_mass": 0.0}
    for text in texts.values():
        prefix = bos_prefix(tokenizer)
        ids = prefix + tokenizer(text, add_special_tokens=False).input_ids
        for start, end in windows(len(ids) - len(prefix), len(prefix), window):
            logits = model(torch.tensor([ids[start:end]])).logits[0, :-1].float()
            at_least = logits[:, twins] >= logits[:, ordinary]
            totals["positions"] += len(logits)
            totals["any_twin_at_least_ordinary"] += int(at_least.any(1).sum())
            totals["pairs_at_least"] += int(at_least.sum())
            totals["greedy_twin"] += int(torch.isin(logits.argmax(1), twins).sum())
            totals["twin_mass"] += float(logits.softmax(1)[:, twins].sum())
    n = totals["positions"]
    return {
        "twins": len(twins),
        "positions": n,
        "share_any_twin_at_least_ordinary": totals["any_twin_at_least_ordinary"] / n,
        "share_pairs_at_least": totals["pairs_at_least"] / (n * len(twins)),
        "share_greedy_twin": totals["greedy_twin"] / n,
        "mean_twin_probability": totals["twin_mass"] / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--data", default=str(CORPUS / "dev"))
    parser.add_argument("--chars", type=int, default=8000)
    parser.add_argument("--window", type=int, default=512)
    args = parser.parse_args()
    texts = {name: path.read_text(encoding="utf-8")[: args.chars] for name, path in text_files([args.data]).items()}
    print(json.dumps({folder: measure(folder, texts, args.window) for folder in args.folders}, indent=2))


if __name__ == "__main__":
    main()
