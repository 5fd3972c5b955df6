"""Methods that estimate new rows from the source model alone: no donor and no training."""
