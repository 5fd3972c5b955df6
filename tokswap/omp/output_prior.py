"""A new row's output prior: how likely the model finds its token before reading any context.

With tied (or output) embeddings a token's logit is h·e, and the final hidden states h share a large mean μ
(on SmolLM2-135M |μ| ≈ 44 of |h| ≈ 54), so e·μ is the token's prior logit. A row assembled from other
tokens' rows inherits their prior: the mean of a new token's pieces scores like the frequent pieces, and
SmolLM2 → Gemma-3 `subword` rows take 48-69% of the probability mass on texts where new tokens are 6-22% of
the tokens. A donor that has the target tokenizer knows how frequent each new token is: a linear probe
fitted on the shared tokens reads the source's prior from a donor row (held-out R² 0.64 on that pair), and
each new row is moved along μ until its prior is the probe's.
"""

from __future__ import annotations

import torch

from ..errors import TokswapError, first_line

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
def mean_output_input(model: torch.nn.Module, tokenizer, max_tokens: int = 512) -> torch.Tensor:
    """μ: the mean of the vectors `model`'s output embedding multiplies, over a short built-in multilingual
    text in the model's own tokenizer. Read with a hook on the output layer, so any final norm is included;
    each text's first position is left out (it is often an outlier many times longer than the rest)."""
    head = model.get_output_embeddings()
    if head is None:
        raise TokswapError("the source model has no output embeddings to read an output prior from")
    seen: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()[:, 1:].float().reshape(-1, args[0].shape[-1])))
    device = next(model.parameters()).device
    limit = min(max_tokens, getattr(model.config.get_text_config(), "max_position_embeddings", None) or max_tokens)
    try:
        for text in CALIBRATION_TEXTS:
            ids = tokenizer(text, return_tensors="pt").input_ids[:, :limit]
            model(ids.to(device))
    except Exception as exc:  # noqa: BLE001 - any architecture transformers cannot run here
        raise TokswapError(f"cannot run the source model to read its output prior: {first_line(exc)}") from None
    finally:
        handle.remove()
    return torch.cat(seen).mean(0).cpu()


def prior_probe(features: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Weights w (features + intercept) of a ridge regression priors ≈ [features, 1]·w.

    The penalty is 1e-3 of the features' mean energy per dimension: negligible with tens of thousands of
    shared tokens, and it keeps the fit defined when there are fewer shared tokens than dimensions."""
    design = torch.cat([features, torch.ones(len(features), 1, dtype=features.dtype)], 1).double()
    gram = design.T @ design
    penalty = 1e-3 * gram.diagonal()[:-1].mean().clamp_min(1e-12)
    gram[:-1, :-1] += penalty * torch.eye(features.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, design.T @ priors.double()).float()


def predict_priors(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    return features.float() @ weights[:-1] + weights[-1]


def with_priors(rows: torch.Tensor, priors: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """`rows` moved along `direction` (μ) so that rows·μ equals `priors`; nothing else about them changes."""
    gap = priors - rows @ direction
    return rows + (gap / direction.pow(2).sum().clamp_min(1e-12))[:, None] * direction[None]
