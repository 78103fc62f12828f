"""Chunk planning and the resumable work folder."""

from __future__ import annotations

import numpy as np

from stemtf.analysis.plan import plan_chunks
from stemtf.analysis.workdir import WorkDir


def test_chunks_cover_every_row_once():
    chunks = plan_chunks(13, 17, (2, 9, 3, 11), chunk_dps=20)
    rows = [r for c in chunks for r in range(c.row0, c.row1)]
    assert rows == list(range(13))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.analyse == (2 <= c.row0 < 9) for c in chunks)
    assert all(c.row1 - c.row0 == 2 for c in chunks if c.analyse and c.row1 < 9)  # 20 // 8
    assert len({c.name for c in chunks}) == len(chunks)


def test_one_row_minimum_for_wide_scans():
    chunks = plan_chunks(3, 5000, (0, 3, 0, 5000), chunk_dps=100)
    assert [(c.row0, c.row1) for c in chunks] == [(0, 1), (1, 2), (2, 3)]


def test_workdir_resume_and_restart(tmp_path):
    work = WorkDir(tmp_path / "out")
    assert work.start({"k": 1}) is None
    work.save_state({"key": {"k": 1}})
    work.save_chunk("chunk_000000", {"labels": np.ones((2, 3), np.uint8)})
    assert work.done("chunk_000000") and not work.done("chunk_000001")
    again = WorkDir(tmp_path / "out")
    assert again.start({"k": 1}) == {"key": {"k": 1}}
    np.testing.assert_array_equal(again.load_chunk("chunk_000000")["labels"], 1)
    assert again.start({"k": 2}) is None  # other settings: old chunks discarded
    assert not again.done("chunk_000000")


def test_default_chunks_hold_enough_rows_for_the_scan_context():
    from stemtf.analysis.run import CHUNK_BYTES, MAX_CHUNK_BYTES, default_chunk_dps

    assert default_chunk_dps((128, 128), 32) == CHUNK_BYTES // (128 * 128 * 4)  # 1024: 32 rows
    assert default_chunk_dps((256, 256), 32) == 16 * 32  # 64 MB would be 8 rows
    assert default_chunk_dps((256, 256), 256) == 16 * 256  # 1 GB exactly
    # a very wide scan on a large detector: the memory ceiling wins over the 16 rows
    assert default_chunk_dps((512, 512), 1024) == MAX_CHUNK_BYTES // (512 * 512 * 4)
    assert default_chunk_dps((4096, 4096), 10) >= 1


def test_more_positions_are_the_rest_of_the_roi_in_a_seeded_order():
    from stemtf.analysis.sample import more_positions, sample_positions

    roi = (2, 9, 3, 11)
    rows, cols = sample_positions(roi, 20, seed=4)
    more_r, more_c = more_positions(roi, rows, cols, seed=4)
    taken = set(zip(rows.tolist(), cols.tolist(), strict=True))
    rest = list(zip(more_r.tolist(), more_c.tolist(), strict=True))
    every = {(r, c) for r in range(2, 9) for c in range(3, 11)}
    assert len(rest) == len(set(rest)) == 56 - 20 and set(rest) == every - taken
    again = more_positions(roi, rows, cols, seed=4)
    assert np.array_equal(again[0], more_r) and np.array_equal(again[1], more_c)
    other = more_positions(roi, rows, cols, seed=5)
    assert not np.array_equal(other[0] * 100 + other[1], more_r * 100 + more_c)
    # not in reading order: any prefix is spread over the ROI
    assert not np.all(np.diff(more_r * 100 + more_c) > 0)
