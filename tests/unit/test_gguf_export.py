"""`export-gguf` on tiny models: the file transformers reads back is the folder, tensor for tensor; the vocabulary is
written as llama.cpp's converter would, or carried over verbatim; llama.cpp's draft rule is applied as written."""

import json

import pytest
from builders import TEXT, byte_level_bpe, tiny_llama
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from tokswap.cli import main
from tokswap.contract import Check
from tokswap.gguf.draft_rule import draft_compatibility, same_tokenization
from tokswap.gguf.export import export_gguf
from tokswap.gguf_reading.metadata import GgufField, gguf_fields
from tokswap.gguf_reading.tokenizer import llamacpp_pre_type
from tokswap.gguf.vocab import TOKENS, vocabulary_from_gguf, vocabulary_from_tokenizer

TOLERANCE = {"f32": 0.0, "f16": 1e-3, "bf16": 1e-2, "q8_0": 2e-2}


@pytest.mark.parametrize("kind", list(TOLERANCE))
@pytest.mark.parametrize("model", ["tied_model", "untied_model"])
def test_transformers_reads_back_the_folder(request, tmp_path, model, kind):
    folder = request.getfixturevalue(model)
    path = tmp_path / "drafter.gguf"
    report = export_gguf(str(folder), path, kind=kind)
    assert report.tensors == (20 if model == "tied_model" else 21) and path.stat().st_size == report.bytes
    exported = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name).state_dict()
    original = AutoModelForCausalLM.from_pretrained(folder).state_dict()
    assert exported.keys() == original.keys()
    for name, tensor in original.items():
        assert (exported[name].float() - tensor.float()).abs().max().item() <= TOLERANCE[kind], name
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    assert tokenizer(TEXT).input_ids == AutoTokenizer.from_pretrained(folder)(TEXT).input_ids


def test_byte_level_vocabulary_as_llamacpp_writes_it(bpe_tok):
    vocabulary = vocabulary_from_tokenizer(bpe_tok, len(bpe_tok) + 3, "tiny")
    tokens = vocabulary[TOKENS].value
    assert vocabulary["tokenizer.ggml.model"].value == b"gpt2" and vocabulary["tokenizer.ggml.pre"].value == b"gpt-2"
    assert tokens[: len(bpe_tok)] == [t.encode() for t in bpe_tok.convert_ids_to_tokens(range(len(bpe_tok)))]
    assert tokens[-1] == f"[PAD{len(bpe_tok) + 2}]".encode()
    types = vocabulary["tokenizer.ggml.token_type"].value
    assert types[bpe_tok.eos_token_id] == 3 and types[-1] == 5 and types[300] == 1  # control, unused, normal
    assert vocabulary["tokenizer.ggml.eos_token_id"].value == bpe_tok.eos_token_id
    assert vocabulary["tokenizer.chat_template"].value == bpe_tok.chat_template.encode()


def test_llama3_style_split_is_recognised():
    """A Hugging Face Llama-3 tokenizer writes its contractions as one case-insensitive group; llama.cpp's table
    spells them out. The two cut text alike, so the pre type is found by behaviour, not by the regex's text."""
    regex = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    backend = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[], ignore_merges=True))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(regex), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    backend.decoder = decoders.ByteLevel()
    assert llamacpp_pre_type(backend) == "llama3"
    backend.model = models.BPE(vocab={"a": 0, "b": 1}, merges=[], ignore_merges=False)
    assert llamacpp_pre_type(backend) == "dbrx"  # the same split without ignore_merges
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    assert llamacpp_pre_type(backend) is None


def test_vocabulary_is_carried_over_verbatim(tied_model, tmp_path):
    """--vocab-from a GGUF copies its tokenizer keys with their types, including ones tokswap does not know."""
    import gguf

    source = tmp_path / "source.gguf"
    export_gguf(str(tied_model), source, kind="f32")
    vocabulary = vocabulary_from_gguf(source)
    vocabulary["tokenizer.ggml.unknown_extra"] = GgufField(gguf.GGUFValueType.INT16, -7)
    writer = gguf.GGUFWriter(str(tmp_path / "vocab.gguf"), "llama")
    for key, field in vocabulary.items():
        writer.add_key_value(key, field.value, gguf.GGUFValueType(field.type), None if field.item_type is None else gguf.GGUFValueType(field.item_type))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    out = tmp_path / "out.gguf"
    assert "verbatim" in export_gguf(str(tied_model), out, vocab_from=str(tmp_path / "vocab.gguf")).vocabulary
    assert vocabulary_from_gguf(out) == vocabulary
    assert gguf_fields(out, lambda key: key == "general.architecture")["general.architecture"].value == b"llama"


def test_the_file_name_never_changes_how_llamacpp_reads_the_vocabulary(tied_model, tmp_path):
    """llama.cpp gives a model named "phi3"/"phi-3" Phi-3's token rules, which stop the load on a vocabulary
    without Phi-3's tokens: the name carries them only when the vocabulary's own GGUF does."""
    import gguf

    def name(path):
        return gguf_fields(path, lambda key: key == "general.name")["general.name"].value.decode()

    export_gguf(str(tied_model), tmp_path / "phi3.gguf", kind="f32")
    export_gguf(str(tied_model), tmp_path / "my-Phi-3-drafter.gguf", kind="f32")
    assert (name(tmp_path / "phi3.gguf"), name(tmp_path / "my-Phi-3-drafter.gguf")) == ("phi 3", "my-phi 3-drafter")
    writer = gguf.GGUFWriter(str(tmp_path / "vocab.gguf"), "phi3")
    writer.add_name("Phi3")
    for key, field in vocabulary_from_gguf(tmp_path / "phi3.gguf").items():
        writer.add_key_value(key, field.value, gguf.GGUFValueType(field.type), None if field.item_type is None else gguf.GGUFValueType(field.item_type))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    export_gguf(str(tied_model), tmp_path / "drafter.gguf", vocab_from=str(tmp_path / "vocab.gguf"), kind="f32")
    assert name(tmp_path / "drafter.gguf") == "drafter (vocabulary of Phi3)"


def _vocab(tokens: int, model: str = "llama", add_bos: bool = True, texts: dict[int, str] | None = None) -> dict:
    import gguf

    names = [f"t{i}" for i in range(tokens)]
    for i, text in (texts or {}).items():
        names[i] = text
    return {
        "tokenizer.ggml.model": GgufField(gguf.GGUFValueType.STRING, model.encode()),
        TOKENS: GgufField(gguf.GGUFValueType.ARRAY, [n.encode() for n in names], gguf.GGUFValueType.STRING),
        "tokenizer.ggml.add_bos_token": GgufField(gguf.GGUFValueType.BOOL, add_bos),
        "tokenizer.ggml.add_eos_token": GgufField(gguf.GGUFValueType.BOOL, False),
        "tokenizer.ggml.bos_token_id": GgufField(gguf.GGUFValueType.UINT32, 1),
    }


def _failed(checks: list[Check]) -> list[str]:
    return [check.name for check in checks if not check.ok]


def test_llamacpp_draft_rule():
    target = _vocab(300)
    assert _failed(draft_compatibility(_vocab(300), target)) == []
    assert _failed(draft_compatibility(_vocab(300 + 128), target)) == []
    assert _failed(draft_compatibility(_vocab(300 + 129), target)) == ["llama.cpp vocab size"]
    assert _failed(draft_compatibility(_vocab(300, model="gpt2"), target)) == ["llama.cpp vocab type"]
    assert _failed(draft_compatibility(_vocab(300, add_bos=False), target)) == ["llama.cpp BOS"]
    assert _failed(draft_compatibility(_vocab(300, texts={3: "other"}), target)) == []  # llama.cpp starts at id 5
    assert _failed(draft_compatibility(_vocab(300, texts={5: "other"}), target)) == ["llama.cpp token texts"]
    missing = _vocab(300)
    del missing["tokenizer.ggml.add_bos_token"]  # llama.cpp's default for SentencePiece files is to add BOS
    assert _failed(draft_compatibility(missing, target)) == []
    assert same_tokenization(_vocab(300), target).ok and not same_tokenization(missing, target).ok


def test_verify_gguf(tied_model, tmp_path, capsys):
    drafter, target = tmp_path / "drafter.gguf", tmp_path / "target.gguf"
    export_gguf(str(tied_model), drafter, kind="q8_0")
    export_gguf(str(tied_model), target, kind="f16")
    assert main(["verify", str(drafter), "--target", str(target), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and "llama.cpp tokenization" in [c["name"] for c in report["checks"]]
    other = tiny_llama(tmp_path / "other", byte_level_bpe(vocab_size=330))
    export_gguf(str(other), tmp_path / "other.gguf", kind="f16")
    assert main(["verify", str(tmp_path / "other.gguf"), "--target", str(target)]) == 1
    failed = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    # A vocabulary cut short passes llama.cpp's own rule (70 tokens apart, the first 330 identical), yet has lost
    # merges and splits text differently: the tokenization checks are what catch it.
    assert failed == ["FAIL  llama.cpp tokenization", "FAIL  ids probe"]


def test_transplant_writes_gguf_and_model_card(tied_model, spm_folder, bpe_folder, tmp_path, capsys):
    """`transplant --gguf` writes both or neither; the folder's card says what was done, and what eval measured."""
    out, gguf_path = tmp_path / "out", tmp_path / "out.gguf"
    target = tiny_llama(tmp_path / "target", PreTrainedTokenizerFast.from_pretrained(bpe_folder), seed=3)
    assert main(["transplant", str(tied_model), "--tokenizer", str(target), "-o", str(out), "--gguf", str(gguf_path), "--gguf-type", "q8_0"]) == 0
    assert gguf_path.is_file() and gguf_fields(gguf_path, lambda key: key == "general.file_type")["general.file_type"].value == 7
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: transformers" in card and "- speculative-decoding" in card
    assert "| method | `subword`" in card and "Nothing measured yet" in card
    text = tmp_path / "en.txt"
    text.write_text(TEXT)
    assert main(["eval", str(out), "--data", str(text)]) == 0
    card = (out / "README.md").read_text()
    assert "| en | " in card and "Nothing measured yet" not in card
    assert json.loads((out / "tokswap_report.json").read_text())["measured"]["eval"]["texts"]["en"]["bits_per_byte"] > 0
    failing = tmp_path / "failing"
    assert main(["transplant", str(tied_model), "--tokenizer", str(spm_folder), "-o", str(failing), "--gguf", str(tmp_path / "spm.gguf")]) == 2
    assert not failing.exists() and not (tmp_path / "spm.gguf").exists()
    capsys.readouterr()
