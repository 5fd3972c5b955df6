"""Drafting: the hot vocabulary a drafter may propose (`draft-vocab`, its calibration, the EAGLE-3 file it
writes, the output head that computes only those rows) and `bench-draft`, the drafting yardstick. It may
import the core; the core never imports it."""
