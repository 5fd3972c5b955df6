"""Measuring a transplant: bits per byte, and the vocabulary contract a drafter must keep."""
