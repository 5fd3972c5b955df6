"""Every step that computes part of a model's forward by hand (feeds `inputs_embeds`, scores final hidden
states against rows) gets what the model's own forward gives, on architectures that scale around their
embedding matrices: Gemma-2/3's √hidden input scale and soft-capped logits, Granite's multipliers."""

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, Gemma2Config, Gemma3TextConfig, GraniteConfig, LlamaConfig

from tokswap.byte_vocab import byte_vocab
from tokswap.checkpoint import frozen, load_causal_lm, model_embeddings
from tokswap.drafting.draft_vocab_file import DraftVocab
from tokswap.drafting.hot_head import with_hot_head
from tokswap.heal import head_summary
from tokswap.heal.head_summary import NORMALIZER_ROWS
from tokswap.heal.teachers import ModelTeacher, TeacherSetup
from tokswap.heal.train import Student
from tokswap.hidden_mean import CALIBRATION_TEXTS, output_inputs
from tokswap.hypernet import objective
from tokswap.checkpoint import input_rows, output_logits
from tokswap.specs import resolve
from tokswap.training.lazy_rows import LazyRows

GEMMA = {"head_dim": 8, "query_pre_attn_scalar": 8, "sliding_window": 4, "final_logit_softcapping": 0.5}
CONFIGS = {
    "llama": lambda **kw: LlamaConfig(**kw, tie_word_embeddings=False),  # untied: the output matrix's own path
    "gemma2": lambda **kw: Gemma2Config(**kw, **GEMMA),
    "gemma3": lambda **kw: Gemma3TextConfig(**kw, **GEMMA),
    "granite": lambda **kw: GraniteConfig(**kw, embedding_multiplier=12.0, logits_scaling=8.0, residual_multiplier=0.22, attention_multiplier=0.0625),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def folder(request, tmp_path_factory, bpe_tok):
    """A random model of one architecture (norms made random too), saved with its tokenizer."""
    torch.manual_seed(0)
    sizes = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}
    tokens = {"bos_token_id": bpe_tok.bos_token_id, "pad_token_id": bpe_tok.pad_token_id}
    config = CONFIGS[request.param](vocab_size=len(bpe_tok), max_position_embeddings=128, **sizes, **tokens)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 1:
                parameter.add_(0.2 * torch.randn_like(parameter))
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(path)
    bpe_tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model(folder):
    return frozen(load_causal_lm(resolve(str(folder))), "cpu")


@pytest.fixture(scope="module")
def ids(bpe_tok):
    return bpe_tok(CALIBRATION_TEXTS[0], return_tensors="pt").input_ids[:, :40]


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


@torch.no_grad()
def test_output_logits_are_the_models_logits(model, ids):
    hidden = model.base_model(input_ids=ids).last_hidden_state
    _close(output_logits(model, hidden, model.get_output_embeddings().weight), model(ids).logits)


@torch.no_grad()
def test_input_rows_are_what_the_embedding_module_hands_on(model, ids):
    rows = input_rows(model, model.get_input_embeddings().weight[ids])
    _close(model.base_model(inputs_embeds=rows).last_hidden_state, model.base_model(input_ids=ids).last_hidden_state)


def test_the_heal_student_gives_the_models_log_probabilities(model, ids):
    student = Student(model, LazyRows(model_embeddings(model, "model"), lr=1e-3))
    rows = model.get_input_embeddings().weight.shape[0]
    log_probs, hidden = student(ids, torch.arange(rows), torch.zeros(rows))
    with torch.no_grad():
        expected = F.log_softmax(model(ids).logits, dim=-1)
    _close(log_probs.detach(), expected)
    _close(student.full_log_probs(hidden.detach()), expected)


@torch.no_grad()
@pytest.mark.parametrize("rows", [NORMALIZER_ROWS, 5])
def test_the_heal_teachers_logits_are_the_models(folder, bpe_tok, ids, rows, monkeypatch):
    """With the normalizer taken a few positions at a time, the head gives what the model gives."""
    monkeypatch.setattr(head_summary, "NORMALIZER_ROWS", rows)
    teacher = ModelTeacher(resolve(str(folder)), TeacherSetup(torch.device("cpu"), torch.float32, 0), bpe_tok, top_k=4)
    seqs, _, head = teacher._read([ids[0].tolist()], 4, picked=True)
    expected = teacher.model(seqs.inputs).logits[:, :-1]
    _close(head.normalizer, expected.logsumexp(-1))
    top = expected.topk(4, dim=-1)
    _close(head.top_logits, top.values)
    _close(expected.gather(-1, head.top_ids), top.values)
    _close(head.picked, expected.gather(-1, seqs.inputs[:, 1:, None]).squeeze(-1))


@torch.no_grad()
def test_the_hypernet_objective_is_the_models_loss(model, bpe_tok, ids, monkeypatch):
    """With every token a source token, `lm_loss` is the model's own next-token loss after its BOS."""
    source = objective.Source("model", model, byte_vocab(bpe_tok), model_embeddings(model, "model").map(torch.Tensor.detach))
    monkeypatch.setattr(objective, "vocab_rows", lambda net, config, source, plan: source.embeddings)
    bos = torch.tensor([[source.vocab.roles["bos"]]])
    expected = F.cross_entropy(model(torch.cat([bos, ids[:, :-1]], 1)).logits[0], ids[0])
    _close(objective.lm_loss(None, None, source, objective.Batch(None, [], ids, ids.clone())), expected)


@torch.no_grad()
def test_rows_times_the_output_inputs_are_the_models_logits(model, bpe_tok):
    """What μ (their mean) is read from: a row's product with one is its logit before soft-capping, so a row
    lowered along μ by a margin (a byte-fallback twin) scores that many logits lower."""
    logits = output_inputs(model, bpe_tok) @ model.get_output_embeddings().weight.T
    cap = getattr(model.config, "final_logit_softcapping", None)
    expected = torch.cat([model(bpe_tok(text, return_tensors="pt").input_ids[:, :128]).logits[0, 1:] for text in CALIBRATION_TEXTS])
    _close(cap * torch.tanh(logits / cap) if cap else logits, expected)


@torch.no_grad()
def test_a_hot_head_gives_the_models_logits_on_its_rows(folder, model, ids):
    """The model's forward scales (Granite) the hot head's output itself; the head caps (Gemma) its rows."""
    hot = torch.arange(0, model.config.vocab_size, 3)
    drafter = with_hot_head(frozen(load_causal_lm(resolve(str(folder))), "cpu"), DraftVocab(hot, model.config.vocab_size))
    logits = drafter(ids).logits
    _close(logits[..., hot], model(ids).logits[..., hot])
    assert logits.isinf().sum() == logits[..., 0].numel() * (model.config.vocab_size - len(hot))
