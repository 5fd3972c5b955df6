"""GGUF files are converted once into cached Hugging Face folders that load to the same tensors and tokenizer."""

from builders import never

from tokswap.contract import Check
from tokswap.gguf_reading import conversion
from tokswap.specs import Spec


def test_a_tokenizer_whose_saved_copy_differs_is_not_cached_nor_tried_again(empty_cache, tmp_path, bpe_tok, monkeypatch):
    spec = Spec("t.gguf", "gguf", tmp_path / "t.gguf")
    spec.path.write_bytes(b"GGUF")
    checked = []
    with monkeypatch.context() as patch:
        patch.setattr("tokswap.gguf_reading.conversion.tokenizer_checks", lambda output, target: checked.append(1) or [Check("vocab", False, "differs")])
        assert conversion.tokenizer(spec, lambda: bpe_tok) is bpe_tok
    assert len(checked) == 1 and not [p for p in (empty_cache / "gguf").rglob("*") if p.is_dir() and p.name.startswith(("tokenizer", ".tokenizer"))]
    assert conversion.tokenizer(spec, lambda: bpe_tok) is bpe_tok
    assert len(checked) == 1 and not list((empty_cache / "gguf").rglob("tokenizer"))
    spec.path.write_bytes(b"GGUF changed")
    assert conversion.tokenizer(spec, lambda: bpe_tok) is bpe_tok
    assert conversion.tokenizer(spec, never).get_vocab() == bpe_tok.get_vocab()
