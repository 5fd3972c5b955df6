"""llama.cpp's own `convert_hf_to_gguf.py`, from the cached llama.cpp sources, on several folders in one process.

Its vocabulary step is left out: the converter knows only the hub's tokenizers (it names the pre-tokenizer
by a hash of how the hub's files split a probe text), and what tokswap writes there is the target's own
vocabulary, checked separately. Everything else, the keys and the tensors, is the converter's. Run with the
sources' own gguf-py, so it is a separate process from the benchmark that reads the files:

    python benchmarks/llamacpp_convert.py SOURCE JOBS.json   (JOBS.json: [[folder, outfile, type], ...])
"""

from __future__ import annotations

import json
import runpy
import sys


def main(source: str, jobs: str) -> None:
    sys.path[:0] = [source, f"{source}/gguf-py"]
    from conversion import get_model_class

    for folder, out, kind in json.loads(open(jobs).read()):
        model_class = get_model_class(json.loads(open(f"{folder}/config.json").read())["architectures"][0])
        for model in model_class.__mro__:
            if "set_vocab" in vars(model):
                model.set_vocab = lambda self: None
        # A model the converter could give multi-token-prediction layers (Qwen3.5) is written without them, as
        # transformers has none: else the converter looks for them in the checkpoint and stops.
        mtp = ["--no-mtp"] if getattr(model_class, "supports_mtp_export", False) else []
        sys.argv = [f"{source}/convert_hf_to_gguf.py", folder, "--outfile", out, "--outtype", kind, *mtp]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main(*sys.argv[1:])
