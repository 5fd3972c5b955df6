"""A GGUF's tokenizer as llama.cpp runs it.

transformers rebuilds a GGUF's tokenizer with the Hugging Face class of its model family, whose way of cutting
text before the merges is not always the one llama.cpp applies to that file: llama.cpp picks it from
`tokenizer.ggml.pre` (BPE vocabularies) or `tokenizer.ggml.add_space_prefix` (SentencePiece ones). A drafter
whose tokenizer cuts text differently disagrees with its target inside llama.cpp, silently. So the split is
set here from the same keys, following llama.cpp's own table (`src/llama-vocab.cpp`), and checked against
llama.cpp's golden vectors wherever a file has them beside it (`NAME.gguf.inp` / `NAME.gguf.out`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..demo import FAITHFUL_LLAMACPP_VOCABS
from ..errors import TokswapError
from .golden import mismatches, read_golden

GENERIC_CLASS = "TokenizersBackend"
# Bumped whenever the reading below or in tokenizer_io changes, so tokenizers cached with an older one are rebuilt.
RECIPE = 6

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN35 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
# llama.cpp spells DeepSeek-LLM's letters as explicit ranges; escaped so no editor normalises them.
_DEEPSEEK_LETTERS = (
    "\\s?[A-Za-z\xb5\xc0-\xd6\xd8-\xf6\xf8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377"
    "\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556"
    "\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a"
    "\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4"
    "\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
    "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f"
    "\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b"
    "\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a"
    "\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2"
    "\U000118a0-\U000118df\U0001e900-\U0001e943]+"
)


@dataclass(frozen=True)
class BpeSplit:
    """llama.cpp's pre-tokenization for a BPE vocabulary: regexes applied in turn, each cutting every piece the
    previous ones left into matches and the text between them; `ignore_merges` emits a whole piece that is
    itself a token without merging it."""

    regexes: tuple[str, ...]
    ignore_merges: bool = False


_FAMILIES: dict[tuple[str, ...], BpeSplit] = {
    ("default",): BpeSplit((r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", "[0-9][0-9][0-9]")),
    ("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
     "mpt", "olmo", "jais", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe"): BpeSplit((_GPT2,)),
    ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"): BpeSplit(
        (_LLAMA3,), ignore_merges=True
    ),
    ("dbrx", "smaug-bpe"): BpeSplit((_LLAMA3,)),
    ("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"): BpeSplit((r"\p{N}", _GPT2)),
    ("falcon",): BpeSplit((r"[\p{P}\$\+<=>\^~\|`]+", _GPT2, "[0-9][0-9][0-9]")),
    ("deepseek-coder",): BpeSplit(("[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", _CJK, r"\p{N}")),
    ("deepseek-llm",): BpeSplit(
        ("[\r\n]", _DEEPSEEK_LETTERS, "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", r"\s+$", _CJK, r"\p{N}+")
    ),
    ("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2"): BpeSplit((_QWEN2,)),
    ("qwen35",): BpeSplit((_QWEN35,)),
}
BPE_SPLITS = {name: split for names, split in _FAMILIES.items() for name in names}


def as_llamacpp(tokenizer, metadata: dict):
    """`tokenizer` (transformers' reading of a GGUF) made to cut text the way llama.cpp does for that file."""
    from tokenizers import decoders, normalizers, pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    kind = metadata.get("tokenizer.ggml.model")
    if backend is None:
        return tokenizer
    if kind == "gpt2":
        split = BPE_SPLITS.get(metadata.get("tokenizer.ggml.pre", "default"))
        if split is not None:
            backend.pre_tokenizer = _pre_tokenizer(split)
            backend.model.ignore_merges = split.ignore_merges
            return _generic(tokenizer)
    elif kind == "llama":
        # SentencePiece in llama.cpp: spaces become "▁", and with `add_space_prefix` on, every run of text after a
        # special token (or the start) gets one more in front, even when it already starts with one. transformers
        # reads a file of the `llama` architecture with one always in front (Metaspace) whatever the file says, and
        # one of another architecture (Gemma's) without; a drafter exported for Gemma-3 is the first kind.
        if metadata.get("tokenizer.ggml.add_space_prefix", True):
            backend.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        elif isinstance(backend.pre_tokenizer, pre_tokenizers.Metaspace):
            backend.normalizer = normalizers.Replace(" ", "\u2581")
            backend.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
        else:
            return tokenizer
        backend.pre_tokenizer = None
        return _generic(tokenizer)
    return tokenizer


def _pre_tokenizer(split: BpeSplit):
    """`split` as a `tokenizers` pre-tokenizer over llama.cpp's byte-level BPE."""
    from tokenizers import Regex, pre_tokenizers

    cuts = [pre_tokenizers.Split(Regex(regex), behavior="isolated") for regex in split.regexes]
    return pre_tokenizers.Sequence([*cuts, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


# Cases where llama.cpp's splits differ from one another: contractions in both cases, digit runs, punctuation
# runs, newlines and space runs, accents, CJK, emoji (llama.cpp's converter tells them apart the same way).
PRE_TYPE_PROBE = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 "
    "3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 ½ 1½ "
    "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ```````\"\"\"\".... !!!!!!?????? "
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL "
    "Việt ॐ ∑ ½ $100+<=>^~| `code` <s>"
)


def llamacpp_pre_type(backend) -> str | None:
    """The `tokenizer.ggml.pre` name of llama.cpp's split that cuts text exactly as `backend` (a `tokenizers`
    byte-level BPE) does, judged on cases where llama.cpp's splits differ; None when none of them does."""
    if backend.pre_tokenizer is None:
        return None
    wanted = backend.pre_tokenizer.pre_tokenize_str(PRE_TYPE_PROBE)
    for names, split in _FAMILIES.items():
        if split.ignore_merges == backend.model.ignore_merges and _pre_tokenizer(split).pre_tokenize_str(PRE_TYPE_PROBE) == wanted:
            return names[0]
    return None


def _generic(tokenizer):
    """The same tokenizer under transformers' generic class: a model family's class (GPT2Tokenizer, ...) rebuilds
    its own pipeline whenever it is loaded, so a saved copy, and every output folder, would lose the split."""
    from transformers import AutoTokenizer

    if type(tokenizer).__name__ == GENERIC_CLASS:
        return tokenizer
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        config = Path(folder) / "tokenizer_config.json"
        config.write_text(json.dumps({**json.loads(config.read_text()), "tokenizer_class": GENERIC_CLASS}))
        return AutoTokenizer.from_pretrained(folder)


def golden_vectors(path: Path) -> Path | None:
    """The llama.cpp test strings shipped beside a GGUF file, if any."""
    inp = path.with_name(path.name + ".inp")
    return inp if inp.is_file() else None


def check_golden(tokenizer, path: Path, what: str) -> None:
    """Refuse a GGUF tokenizer that disagrees with the llama.cpp golden vectors shipped beside it."""
    inp = golden_vectors(path)
    if inp is None:
        return
    cases = read_golden(inp)
    failures = mismatches(tokenizer, cases)
    if failures:
        raise TokswapError(
            f"{what}: tokswap splits {len(failures)} of llama.cpp's {len(cases)} golden texts differently from llama.cpp "
            f"(first: {failures[0].text[:30]!r}), so a drafter built on it would disagree with its target; "
            f"llama.cpp vocabularies read faithfully: {', '.join(FAITHFUL_LLAMACPP_VOCABS)}"
        )
