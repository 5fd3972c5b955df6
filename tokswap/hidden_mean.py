"""μ: the mean of the vectors a model's output rows multiply (its final hidden states, after any final norm),
in logit units (divided by Granite's `logits_scaling`).

Those vectors share a large mean: on SmolLM2-135M |μ| = 30 against a mean |h| of 48 over the calibration
text, with h·μ > 0 at 816 of its 818 positions, and at all 16,483 positions of its `subword` transplant onto
Gemma-3 over the first 8,000 characters of each `shared/corpus/dev` text (`benchmarks/twin_logits.py`: every
twin there is below its token). So a row's logit is, to first order, its prior e·μ, and moving a row along −μ
lowers its logit wherever the model runs. `omp` gives new rows a donor's priors along μ; the transplant puts
byte-fallback twins below their ordinary tokens along it.
Reading μ loads the whole model and runs it on a short built-in multilingual text."""

from __future__ import annotations

import torch

from .errors import TokswapError, first_line
from .loading import load_language_model
from .checkpoint import logits_scaling
from .specs import Spec

SHARED = 0.99  # SmolLM2-135M: 816 of its 818 calibration vectors have h·μ > 0
CALIBRATION_TEXTS = (
    "The library opens at nine on weekdays. Most visitors come for the reading room on the second floor, where "
    "the windows face the river and the tables are long enough to spread out maps, notes and a laptop. In the "
    "afternoon a small group meets to talk about the books they finished that month, and nobody minds if you "
    "only listen.",
    "Am Wochenende fahren wir oft mit dem Zug in die Berge. Die Fahrt dauert etwa zwei Stunden, und unterwegs "
    "sieht man kleine Dörfer, Wiesen und manchmal einen See. Oben angekommen, wandern wir bis zur Hütte, essen "
    "eine Suppe und genießen die Aussicht, bevor es am Abend wieder nach Hause geht.",
    "Le marché du samedi commence tôt. Les producteurs installent leurs étals avant le lever du soleil : des "
    "fromages, du pain encore chaud, des légumes de saison et des fleurs. Vers midi, les rues sont pleines de "
    "familles qui comparent les prix et discutent avec les vendeurs qu'elles connaissent depuis des années.",
    "El proyecto empezó como una pequeña idea entre amigos. Querían medir la calidad del aire en su barrio con "
    "sensores baratos y publicar los datos cada hora. Después de unos meses, la escuela local se unió y los "
    "estudiantes aprendieron a analizar las series temporales y a explicar los resultados a sus vecinos.",
    "我们每天早上七点起床，先喝一杯茶，然后去公园散步。公园里有很多人在打太极拳，也有人在跑步或者遛狗。"
    "回家以后，我们一起做早饭，一边吃一边聊今天的计划。周末的时候，我们常常去图书馆借书，或者和朋友一起爬山。",
    "昨日は雨が降っていたので、家で本を読んだり料理をしたりしました。夕方になると雨がやんで、空がきれいな"
    "オレンジ色になりました。近所の公園まで散歩に行くと、子どもたちが水たまりで楽しそうに遊んでいました。",
    "def moving_average(values, window):\n"
    '    """Return the mean of each run of `window` consecutive values."""\n'
    "    if window <= 0:\n"
    '        raise ValueError("window must be positive")\n'
    "    total = sum(values[:window])\n"
    "    means = [total / window]\n"
    "    for old, new in zip(values, values[window:]):\n"
    "        total += new - old\n"
    "        means.append(total / window)\n"
    "    return means\n",
)


@torch.no_grad()
def output_inputs(model: torch.nn.Module, tokenizer, max_tokens: int = 512) -> torch.Tensor:
    """The vectors `model`'s output embedding multiplies, one per position of a short built-in multilingual
    text in the model's own tokenizer, divided by what the model divides its logits by (Granite's
    `logits_scaling`), so that a row's product with one is its logit before any soft-capping (monotone:
    a row lowered stays lower). Read with a hook on the output layer, so any final norm is included;
    each text's first position is left out (it is often an outlier many times longer than the rest)."""
    head = model.get_output_embeddings()
    if head is None:
        raise TokswapError("the source model has no output embeddings to read its mean hidden state from")
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()[:, 1:].float().reshape(-1, args[0].shape[-1])))
    device = next(model.parameters()).device
    limit = min(max_tokens, getattr(model.config.get_text_config(), "max_position_embeddings", None) or max_tokens)
    try:
        for text in CALIBRATION_TEXTS:
            ids = tokenizer(text, return_tensors="pt").input_ids[:, :limit]
            model(ids.to(device))
    except Exception as exc:  # noqa: BLE001 - any architecture transformers cannot run here
        raise TokswapError(f"cannot run the source model to read its mean hidden state: {first_line(exc)}") from None
    finally:
        handle.remove()
    return torch.cat(seen).cpu() / logits_scaling(model)


def mean_output_input(model: torch.nn.Module, tokenizer) -> torch.Tensor:
    """μ, over the built-in calibration text."""
    return output_inputs(model, tokenizer).mean(0)


def output_direction(source: Spec) -> torch.Tensor:
    """μ of the model at `source`: loads it whole and runs it on the built-in calibration text."""
    model = load_language_model(source)
    return mean_output_input(model.module, model.tokenizer)


def shared_direction(source: Spec) -> torch.Tensor | None:
    """μ of the model at `source` when nearly every calibration vector has h·μ > 0 (`SHARED` of them: trained
    language models' do), else None: then a row moved along −μ would rise wherever h·μ < 0. Rounded to
    bfloat16, so that the last bits a forward pass leaves to the CPU's thread count (3e-8 on SmolLM2-135M's
    twin rows between 1 and 2 threads) almost never reach the written weights and their checksum."""
    model = load_language_model(source)
    seen = output_inputs(model.module, model.tokenizer)
    mean = seen.mean(0)
    return mean.bfloat16().float() if float((seen @ mean > 0).float().mean()) >= SHARED else None


def lowering(direction: torch.Tensor, logits: float) -> torch.Tensor:
    """What to subtract from a row to lower its logit by `logits` at the hidden state `direction` (μ), and by
    logits·(h·μ)/|μ|² at any other h: lower wherever h·μ > 0."""
    return direction * (logits / direction.pow(2).sum().clamp_min(1e-12))
