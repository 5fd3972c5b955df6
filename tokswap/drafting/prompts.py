"""Prompts users send, by category: `bench-draft`'s yardstick and `draft-vocab`'s default calibration.

A drafter is judged on whatever users ask, so the built-in set spans questions, explanations, stories, lists,
arithmetic, emails, code in three languages and five languages besides English; figures are reported per
category so that no single kind of text can carry or hide a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..texts import read_lines


@dataclass(frozen=True)
class Prompt:
    category: str
    text: str


def _prompts(category: str, *texts: str) -> list[Prompt]:
    return [Prompt(category, text) for text in texts]


BUILT_IN_PROMPTS: tuple[Prompt, ...] = (
    *_prompts(
        "question",
        "What is the difference between weather and climate? Answer in a few sentences.\n",
        "Why do cats purr, and do they only purr when they are happy?\n",
    ),
    *_prompts(
        "explanation",
        "Explain how vaccines teach the immune system to recognise a virus, in simple terms.\n",
        "Explain what a hash table is and why looking up a key in one is usually fast.\n",
    ),
    *_prompts(
        "story",
        "Write a short story about a lighthouse keeper who finds a message in a bottle.\n\n",
        "Once upon a time, in a village at the edge of a great forest, there lived a girl who could talk to birds.",
    ),
    *_prompts(
        "list",
        "List ten things to pack for a weekend camping trip.\n1.",
        "Give me five tips for sleeping better at night:\n-",
    ),
    *_prompts(
        "math",
        "Sarah buys 3 notebooks at $2.50 each and 2 pens at $1.20 each. She pays with a $20 bill. How much change "
        "does she get? Solve it step by step.\n",
        "A train leaves at 9:15 and travels at 80 km/h. A second train leaves the same station at 10:00 on a "
        "parallel track at 100 km/h. At what time does the second train catch up with the first?\n",
    ),
    *_prompts(
        "email",
        "Write an email to my landlord asking when the broken heater in my flat will be repaired.\n\nDear Mr. Thompson,\n",
        "Subject: Moving our Thursday meeting\n\nHi team,\n\n",
    ),
    *_prompts(
        "code",
        'def merge_sorted(a, b):\n    """Merge two sorted lists into one sorted list."""\n',
        "// Call fn only after `wait` milliseconds have passed without another call.\nfunction debounce(fn, wait) {\n",
        "-- The ten customers who spent the most in 2023, with their total spend\nSELECT",
    ),
    *_prompts(
        "german",
        "Kannst du mir erklären, warum der Himmel blau ist?\n",
        "Schreibe eine kurze E-Mail an meine Kollegin, dass ich morgen von zu Hause arbeite.\n",
    ),
    *_prompts(
        "french",
        "Quels sont les avantages et les inconvénients du télétravail ?\n",
        "Raconte-moi une courte histoire sur un chat qui voulait devenir boulanger.\n",
    ),
    *_prompts(
        "spanish",
        "¿Cuáles son los beneficios de aprender un segundo idioma?\n",
        "Escribe una receta sencilla de tortilla de patatas.\n",
    ),
    *_prompts(
        "chinese",
        "请用简单的语言解释一下什么是人工智能。\n",
        "给我推荐几本适合初学者的历史书，并说明理由。\n",
    ),
    *_prompts(
        "japanese",
        "日本の四季について短く説明してください。\n",
        "明日の会議に遅れることを上司に伝えるメールを書いてください。\n",
    ),
)


def file_prompts(paths: list[Path]) -> list[Prompt]:
    """One prompt per non-blank line; each file is a category, named by its stem."""
    return [Prompt(path.stem, line) for path in paths for line in read_lines(path)]


def categories(prompts: list[Prompt] | tuple[Prompt, ...]) -> list[str]:
    """Categories in the order they first appear."""
    return list(dict.fromkeys(p.category for p in prompts))
