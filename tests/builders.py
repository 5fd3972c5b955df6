"""Tiny tokenizers and models built inside the tests, one per tokenizer family the alignment must handle."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)
from transformers import (
    AutoModelForCausalLM,
    Gemma2Config,
    Gemma3TextConfig,
    GraniteConfig,
    Lfm2Config,
    LlamaConfig,
    MistralConfig,
    Olmo2Config,
    Phi3Config,
    PretrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen3_5TextConfig,
    Qwen3Config,
    SmolLM3Config,
)

TEXT = """The quick brown fox jumps over the lazy dog. Tokenizers split text into pieces.
Der schnelle braune Fuchs springt über den faulen Hund. Les élèves étudient à l'école.
def transplant(model, tokenizer):\n    return {"rows": len(tokenizer)}  # comment
日本語のテキストも少し。中文文本也有一点。 Ελληνικά και русский текст.
""" * 20

MORE = """Hypernetworks predict embeddings for tokens that a model has never seen, from the pieces they are made of.
Ein Hypernetz sagt Einbettungen für neue Wörter voraus. Un hyperréseau prédit les plongements des mots nouveaux.
for index, piece in enumerate(pieces):\n        total += weights[index] * piece\n    return total / len(pieces)
"""

CHAT_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>{% endfor %}"


def byte_level_bpe(vocab_size: int = 400, specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>")) -> PreTrainedTokenizerFast:
    """GPT-2 style: byte-level alphabet, no unk, chat tokens as added specials."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(specials), initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TEXT], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=specials[1], eos_token=specials[2], unk_token=specials[0], pad_token=specials[0], chat_template=CHAT_TEMPLATE
    )


def sentencepiece_bpe(vocab_size: int = 500) -> PreTrainedTokenizerFast:
    """Gemma/Llama-2 style: `▁` for spaces and `<0xNN>` byte fallback tokens in the vocabulary."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials)
    base = Tokenizer(models.BPE(unk_token="<unk>"))
    base.normalizer = normalizers.Replace(" ", "\u2581")
    base.pre_tokenizer = pre_tokenizers.Split("\u2581", behavior="merged_with_next")
    base.train_from_iterator([TEXT], trainer)
    vocab = dict(base.get_vocab())
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    merges = [tuple(merge) for merge in json.loads(base.to_str())["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.pre_tokenizer = pre_tokenizers.Split("\u2581", behavior="merged_with_next")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens(specials)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>")


def wordpiece(vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """BERT style: `##` continuation pieces, [UNK] for what it cannot spell."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator([TEXT], trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", bos_token="[CLS]", eos_token="[SEP]")


@dataclass(frozen=True)
class TinyArchitecture:
    """A Hugging Face architecture at test size; `noisy_vectors` makes its norms and biases random, so one written
    wrongly (Gemma's +1, a bias left out) changes the logits."""

    config: Callable[..., PretrainedConfig]
    noisy_vectors: bool = True
    heads: tuple[bool, ...] = (True, False)  # tied, untied: those llama.cpp's graph has


# Rope scaling that bites within a test's few dozen positions: wavelengths of 8 to 32 positions are rescaled.
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
# Phi-3.5's long-context rope at test size: two rotary frequencies (head 8, half of it rotated), an original context
# of 8 tokens, so that every test prompt is past it and transformers takes the long factors as llama.cpp does.
LONGROPE = {"rope_type": "longrope", "rope_theta": 10000.0, "long_factor": [1.5, 6.0], "short_factor": [1.1, 1.3], "original_max_position_embeddings": 8}

TINY_ARCHITECTURES = {
    "llama": TinyArchitecture(LlamaConfig, noisy_vectors=False),
    "llama3": TinyArchitecture(lambda **kw: LlamaConfig(rope_parameters=LLAMA3_ROPE, **kw)),
    "qwen2": TinyArchitecture(Qwen2Config),  # biased q/k/v
    "mistral": TinyArchitecture(lambda **kw: MistralConfig(head_dim=8, **kw)),
    "phi3": TinyArchitecture(lambda **kw: Phi3Config(partial_rotary_factor=0.5, original_max_position_embeddings=kw["max_position_embeddings"], **kw)),
    "phi3-longrope": TinyArchitecture(
        lambda **kw: Phi3Config(rope_parameters={**LONGROPE, "partial_rotary_factor": 0.5}, original_max_position_embeddings=8, **kw)
    ),
    "qwen3": TinyArchitecture(lambda **kw: Qwen3Config(head_dim=8, **kw)),  # q/k norms per head
    # Four layers, so that one skips rope (llama.cpp's smollm3 graph: every fourth).
    "smollm3": TinyArchitecture(lambda **kw: SmolLM3Config(**{**kw, "num_hidden_layers": 4})),
    # A global layer after a sliding one (a window of 8 tokens: transformers' assisted generation cannot roll back a
    # sliding cache shorter than its drafts); both soft-caps strong enough to change rankings.
    "gemma2": TinyArchitecture(
        lambda **kw: Gemma2Config(head_dim=8, query_pre_attn_scalar=8, sliding_window=8, attn_logit_softcapping=1.0, final_logit_softcapping=2.0, **kw),
        heads=(True,),
    ),
    "olmo2": TinyArchitecture(Olmo2Config),  # norms after each sublayer, q/k norms over the whole projection
    "granite": TinyArchitecture(
        lambda **kw: GraniteConfig(embedding_multiplier=12.0, residual_multiplier=0.22, attention_multiplier=0.0625, logits_scaling=2.0, **kw)
    ),
    # Six layers so that one attends globally (llama.cpp's pattern: every sixth); a window of 4 tokens; queries
    # scaled by head_dim as llama.cpp's graph does; soft-capping strong enough to change the ranking of logits.
    "gemma3": TinyArchitecture(
        lambda **kw: Gemma3TextConfig(
            **{**kw, "num_hidden_layers": 6}, head_dim=8, query_pre_attn_scalar=8, sliding_window=4, final_logit_softcapping=0.5
        )
    ),
    # A short-convolution layer on each side of an attention layer; its feed-forward size adjusted as LFM2's is
    # (2/3 of 128, rounded up to a multiple of 32: 96), which llama.cpp reads from the file.
    "lfm2": TinyArchitecture(
        lambda **kw: Lfm2Config(
            **{**kw, "num_hidden_layers": 3, "intermediate_size": 128}, block_multiple_of=32, layer_types=["conv", "full_attention", "conv"]
        )
    ),
    # Linear (gated delta net) layers around a full-attention one, off the every-fourth default so that the file's
    # recurrent-layer list is what llama.cpp follows; twice as many value heads as key heads (the converter reorders
    # them); head_dim 32, as ggml's rope needs room for the default rope sections (11, 11, 10).
    "qwen35": TinyArchitecture(
        lambda **kw: Qwen3_5TextConfig(
            **{**kw, "num_hidden_layers": 3},
            head_dim=32,
            layer_types=["linear_attention", "full_attention", "linear_attention"],
            linear_key_head_dim=8,
            linear_value_head_dim=8,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
        )
    ),
}


def tiny_model(folder: Path, tokenizer, architecture: str = "llama", *, tied: bool = True, rows: int | None = None, seed: int = 0, shard: str | None = None) -> Path:
    """A random model of `architecture` (hidden size 32, 2 layers) saved with its tokenizer; `shard` (e.g. "20KB")
    makes a sharded checkpoint."""
    torch.manual_seed(seed)
    kind = TINY_ARCHITECTURES[architecture]
    config = kind.config(
        vocab_size=rows or len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=tied,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = AutoModelForCausalLM.from_config(config)
    if kind.noisy_vectors:
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.ndim == 1:
                    parameter.add_(0.2 * torch.randn_like(parameter))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
    tokenizer.save_pretrained(folder)
    return folder


def tiny_llama(folder: Path, tokenizer, **kwargs) -> Path:
    return tiny_model(folder, tokenizer, "llama", **kwargs)


def never():
    raise AssertionError("the GGUF was read again")


def cli_error(capsys, *argv) -> str:
    """Run the CLI on `argv`, which must fail as a user error: exit 2 and exactly one stderr line, no traceback."""
    from tokswap.cli import main

    capsys.readouterr()
    assert main([str(arg) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tokswap: error: ") and "Traceback" not in err, err
    return err.strip()
