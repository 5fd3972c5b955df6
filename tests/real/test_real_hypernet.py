"""A hypernetwork trained for the real GGUF source and applied through the pipeline."""

import pytest
import torch
from builders import MORE, TEXT

from tokswap import load_target, transplant_embeddings
from tokswap.hypernet.model import Hypernet, save_hypernet
from tokswap.hypernet.options import TrainOptions
from tokswap.hypernet.train import Trainer
from tokswap.methods import get_method

pytestmark = pytest.mark.real


def test_real_smollm2_trains_and_applies_through_the_pipeline(tmp_path, spm_folder, pair):
    """The GGUF source end to end: the matrices the transplant reads are the ones the network was trained on."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "text.txt").write_text(TEXT + MORE * 10)
    options = TrainOptions(steps=2, seq_len=16, batch_size=2, vocab_min=300, vocab_max=600, recent_steps=2, width=64, heads=2, ffn=128)
    trainer = Trainer("smollm2-135m", tmp_path / "data", tmp_path / "hn", options)
    save_hypernet(Hypernet(trainer.config), tmp_path / "untrained")
    report = trainer.run()
    assert report.steps == 2 and report.loss == report.loss
    source, target = pair[0], load_target(str(spm_folder))
    methods = {"subword": {}, "untrained": {"hypernet": str(tmp_path / "untrained")}, "trained": {"hypernet": str(tmp_path / "hn")}}
    rows = {
        name: transplant_embeddings(source, target, get_method("subword" if name == "subword" else "hypernet", **options)).embeddings.input
        for name, options in methods.items()
    }
    assert torch.equal(rows["untrained"], rows["subword"])
    assert torch.isfinite(rows["trained"]).all() and not torch.equal(rows["trained"], rows["subword"])
