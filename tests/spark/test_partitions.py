"""Default partitioning: a partition's input, and with it an executor's memory, does not grow with N."""
from __future__ import annotations

from fhir_onco.spark.run import PARTITION_INPUT_BYTES, default_partitions


def test_small_inputs_get_two_partitions_per_core() -> None:
    assert default_partitions(1, 0) == 2
    assert default_partitions(2, 1000) == 4
    assert default_partitions(8, PARTITION_INPUT_BYTES) == 16


def test_partition_input_stays_bounded_as_the_input_grows() -> None:
    # 40 MB is what a generated 100k-patient registry extract takes; 400 MB a million patients.
    for input_bytes in (40 * 2**20, 400 * 2**20, 4 * 2**30 + 1):
        n = default_partitions(2, input_bytes)
        assert input_bytes / n <= PARTITION_INPUT_BYTES
        assert input_bytes / (n - 1) > PARTITION_INPUT_BYTES  # no more partitions than needed
    assert default_partitions(2, 400 * 2**20) == 10 * default_partitions(2, 40 * 2**20)
