"""Atomic writes, caching, output-folder stamps, tables, and the light import graph."""

import json

import numpy as np
import pytest

from tfadv import artifacts
from tfadv.outputs import Output
from tfadv.tables import Table, write_table


def test_atomic_path_leaves_nothing_behind_on_failure(tmp_path):
    final = tmp_path / "out" / "result.npz"
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(final) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert not final.exists()
    assert list(final.parent.iterdir()) == []


def test_atomic_path_replaces_only_when_complete(tmp_path):
    final = tmp_path / "a.json"
    artifacts.write_json(final, {"x": 1})
    with pytest.raises(KeyboardInterrupt):
        with artifacts.atomic_path(final) as tmp:
            tmp.write_text('{"x": ')
            raise KeyboardInterrupt
    assert artifacts.read_json(final) == {"x": 1}


def test_cached_computes_once_and_recomputes_a_damaged_file(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(3), "meta": {"k": "v"}}

    path = tmp_path / "s.npz"
    first = artifacts.cached(path, compute, artifacts.save_arrays, artifacts.load_arrays)
    second = artifacts.cached(path, compute, artifacts.save_arrays, artifacts.load_arrays)
    assert len(calls) == 1
    np.testing.assert_array_equal(second["a"], first["a"])
    assert second["meta"] == {"k": "v"}
    path.write_bytes(b"garbage")
    artifacts.cached(path, compute, artifacts.save_arrays, artifacts.load_arrays)
    assert len(calls) == 2
    artifacts.cached(path, compute, artifacts.save_arrays, artifacts.load_arrays, force=True)
    assert len(calls) == 3


def test_unwritable_place_raises_output_dir_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(artifacts.OutputDirError, match="Cannot write to output folder .*--output_dir"):
        artifacts.write_text(blocker / "sub" / "x.txt", "x")


def test_output_dir_stamp_detects_other_versions(tmp_path):
    out = artifacts.open_output_dir(tmp_path / "run")
    assert json.loads((out / artifacts.STAMP).read_text())["format"] == artifacts.OUTPUT_FORMAT
    assert artifacts.open_output_dir(out) == out  # reopening is fine
    (out / artifacts.STAMP).write_text(json.dumps({"format": artifacts.OUTPUT_FORMAT + 1}))
    with pytest.raises(artifacts.OutputDirError, match="incompatible version"):
        artifacts.open_output_dir(out)
    old = tmp_path / "old"
    (old / "models").mkdir(parents=True)
    with pytest.raises(artifacts.OutputDirError, match="without a tfadv_output.json stamp"):
        artifacts.open_output_dir(old)


def test_config_key_is_stable_and_order_free():
    assert artifacts.config_key({"a": 1, "b": [1, 2]}) == artifacts.config_key({"b": [1, 2], "a": 1})
    assert artifacts.config_key({"a": 1}) != artifacts.config_key({"a": 2})
    assert len(artifacts.config_key({})) == 12


def test_table_formats():
    table = Table(("name", "r", "ok"), (("a_b", 0.12345, True), ("c", float("nan"), False)), "r >= 0.5 & 10%")
    assert table.to_csv() == "name,r,ok\na_b,0.12345,True\nc,,False\n"
    md = table.to_markdown()
    assert "| a_b | 0.123 | yes |" in md and "| c | \u2014 | no |" in md
    tex = table.to_latex()
    assert r"a\_b & 0.123 & yes \\" in tex and r"r $\geq$ 0.5 \& 10\%" in tex


def test_write_table_ends_the_caption_with_the_preset_and_keeps_the_csv_cells_only(tmp_path):
    table = Table(("name", "r"), (("a", 0.5),), "Paper A: r per digit.")
    csv_path, md_path, tex_path = write_table(table, Output(tmp_path, "quick"), "eyes_tab1")
    assert csv_path.read_text() == table.to_csv() == "name,r\na,0.5\n"
    note = Output(tmp_path, "quick").note()
    assert md_path.read_text().splitlines()[0] == f"**Paper A: r per digit. {note}**"
    assert r"\caption{Paper A: r per digit. Preset quick: a smoke-size run" in tex_path.read_text()
    paper = write_table(table, Output(tmp_path, "paper"), "eyes_tab1")[1]
    assert paper.read_text().splitlines()[0] == "**Paper A: r per digit. Preset paper.**"
