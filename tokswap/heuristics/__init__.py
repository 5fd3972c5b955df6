"""Methods that estimate new rows from the source model alone, no donor and no training: `subword`, the
baselines (`mean`, `zero`, `random`) and TokenAdapt's heuristic with its auxiliary encoder. A method family:
it may import only the core."""
