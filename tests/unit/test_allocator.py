"""The allocator setting training runs make. Whether a freed block is then reused depends on where the kernel
put the heap (a block the heap cannot grow into in place is still mapped afresh), so this checks that glibc
takes the setting; benchmarks/heal_speed.py measures what it buys."""

from tokswap.training.allocator import freed_memory_kept


def test_glibc_takes_both_thresholds():
    with freed_memory_kept() as kept:
        assert kept
