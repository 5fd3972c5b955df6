"""Measuring a transplant: bits per byte, drafter equivalence with the target, and drafting speed."""
