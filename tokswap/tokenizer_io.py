"""Load a tokenizer from any spec, and write it into an output folder unchanged."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from tokenizers import Tokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from .byte_vocab import ROLES
from .errors import TokswapError, first_line
from .gguf_reading import conversion
from .gguf_reading.metadata import gguf_metadata
from .gguf_reading.tokenizer import as_llamacpp, check_golden
from .specs import Spec

GENERIC_CLASSES = ("TokenizersBackend", "PreTrainedTokenizerFast")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)


def load_tokenizer(spec: Spec):
    try:
        if spec.kind == "tokenizer_json":
            tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(spec.path))
        elif spec.kind == "gguf":
            tokenizer = conversion.tokenizer(spec, lambda: read_gguf_tokenizer(spec))
        else:
            tokenizer = folder_tokenizer(spec.path)
    except TokswapError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure is one user-facing line
        raise TokswapError(f"cannot load a tokenizer from {spec.text}: {first_line(exc)}") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise TokswapError(f"{spec.text}: only tokenizers backed by the `tokenizers` library are supported")
    if spec.kind == "gguf":
        check_golden(tokenizer, spec.path, spec.text)
    return tokenizer


def folder_tokenizer(folder: Path):
    """A folder's tokenizer as its tokenizer.json says when its tokenizer_config names the generic class (every
    folder tokswap writes). transformers 5 gives some model types (qwen2) their own tokenizer class whatever the
    config names, rebuilt from the vocabulary with that model's splitting: a Qwen2 drafter on Gemma-3's
    vocabulary would not split text as Gemma-3 does."""
    config = folder / "tokenizer_config.json"
    generic = config.is_file() and json.loads(config.read_text()).get("tokenizer_class") in GENERIC_CLASSES
    if generic and (folder / "tokenizer.json").is_file():
        return PreTrainedTokenizerFast.from_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder)


def read_gguf_tokenizer(spec: Spec):
    """transformers' reading of a GGUF's tokenizer, made to split text as llama.cpp does for that file."""
    metadata = gguf_metadata(spec.path)
    path, kwargs = spec.gguf_args
    return _file_tokens_only(as_llamacpp(AutoTokenizer.from_pretrained(path, **kwargs), metadata), metadata)


GGUF_ROLE_KEYS = {"bos": "bos", "eos": "eos", "unk": "unknown", "pad": "padding"}


def _file_tokens_only(tokenizer, metadata: dict):
    """transformers' reading of some GGUFs adds tokens past the file's (an `<|endoftext|>` to Llama-3's;
    DeepSeek's begin and end of sentence again, readable, whose ids it then takes for BOS and EOS), so a model
    moved onto it would get rows llama.cpp has no token for. The vocabulary is cut to the file's, and each
    role is the token the file's id names, as llama.cpp reads them."""
    count = metadata["tokenizer.ggml.tokens"]
    if len(tokenizer) <= count:
        return tokenizer
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tokenizer.save_pretrained(folder)
        data = json.loads((folder / "tokenizer.json").read_text())
        data["added_tokens"] = [token for token in data["added_tokens"] if token["id"] < count]
        kept = Tokenizer.from_str(json.dumps(data))
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config["added_tokens_decoder"] = {i: token for i, token in config.get("added_tokens_decoder", {}).items() if int(i) < count}
        config.pop("extra_special_tokens", None)
        names, ids = {}, {}  # a role's token past the file -> the file's, for the template that adds BOS/EOS
        for role, key in GGUF_ROLE_KEYS.items():
            index = metadata.get(f"tokenizer.ggml.{key}_token_id")
            config[f"{role}_token"] = None if index is None else kept.id_to_token(index)
            old = getattr(tokenizer, f"{role}_token_id")
            if index is not None and old is not None and old >= count:
                names[getattr(tokenizer, f"{role}_token")], ids[old] = config[f"{role}_token"], index
        data["post_processor"] = _renamed(data.get("post_processor"), names, ids)
        (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))
        (folder / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": GENERIC_CLASSES[0]}, ensure_ascii=False))
        return PreTrainedTokenizerFast.from_pretrained(folder)


def _renamed(node, names: dict[str, str], ids: dict[int, int]):
    """A post-processor's JSON with special tokens past the file's vocabulary replaced by the file's own."""
    if isinstance(node, dict):
        return {names.get(key, key): _renamed(value, names, ids) for key, value in node.items()}
    if isinstance(node, list):
        return [_renamed(value, names, ids) for value in node]
    if isinstance(node, str):
        return names.get(node, node)
    return ids.get(node, node) if isinstance(node, int) and not isinstance(node, bool) else node


def save_tokenizer(tokenizer, spec: Spec, folder: Path) -> None:
    """Copy a folder's tokenizer files byte for byte (tokenizers from GGUF or a tokenizer.json are serialised),
    then name in tokenizer_config.json what makes AutoTokenizer read tokenizer.json as written."""
    copied = [name for name in TOKENIZER_FILES if spec.kind == "folder" and (spec.path / name).is_file()]
    for name in copied:
        shutil.copyfile(spec.path / name, folder / name)
    if not copied:
        tokenizer.save_pretrained(folder)
    _load_as_written(tokenizer, folder)


def _load_as_written(tokenizer, folder: Path) -> None:
    """transformers 5 picks the tokenizer class from config.json's model type, and a model family's class
    (Qwen2Tokenizer, GemmaTokenizer, ...) keeps only the vocabulary of tokenizer.json, under its own normalizer,
    splitting and decoder: a Qwen2 drafter on Gemma-3's vocabulary would not split text as Gemma-3 does. The
    generic class in `tokenizer_class` reads the file as it is, and most model types honour it; for those whose
    class transformers forces whatever the config names (qwen2, qwen3_5), `trust_remote_code` among the config's
    values makes that class take the file as it is too (TokenizersBackend.convert_to_native_format; no code is
    fetched or run). A forced class fills special tokens the config leaves out with its own, so each role is
    written (null where the target has none). Written for every model type: the reader's transformers decides."""
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    roles = {f"{role}_token": getattr(tokenizer, f"{role}_token") for role in ROLES}
    config = {**roles, **config, "tokenizer_class": GENERIC_CLASSES[0], "trust_remote_code": True}
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def bos_prefix(tokenizer) -> list[int]:
    """The BOS the tokenizer adds to every text, or nothing."""
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and tokenizer("x").input_ids[:1] == [bos] else []
