"""Tests for tfadv.data on tiny synthetic IDX files; one test on the real data."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from tfadv import data

REAL_DIR = os.environ.get(data.ENV_VAR)  # Read before the fixture clears it.


def _arrays(seed: int, n_train: int = 6, n_test: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def _write_set(folder: Path, seed: int = 0, gz: bool = True, **overrides) -> dict[str, np.ndarray]:
    arrays = {**_arrays(seed), **overrides}
    folder.mkdir(parents=True, exist_ok=True)
    for base, array in arrays.items():
        data.write_idx(folder / (base + ".gz" if gz else base), array)
    return arrays


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{data._NPZ_KEYS[b]: a for b, a in arrays.items()})


def _idx_file_digests(folder: Path) -> dict[str, str]:
    return {b: hashlib.sha256(gzip.decompress((folder / f"{b}.gz").read_bytes())).hexdigest() for b in data.FILES}


def _no_network(name):
    raise ConnectionError("no network in tests")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real home, env dir, Debian dir or network; an empty decode cache."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_FASHION_DIR", tmp_path / "debian" / "fashion-mnist")
    monkeypatch.setattr(data, "_keras_download", _no_network)
    data._decode.cache_clear()
    return tmp_path


def test_idx_round_trip_raw_and_gz(tmp_path):
    for shape in [(7,), (3, 5), (4, 28, 28)]:
        array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        for name in ("a-ubyte", "a-ubyte.gz"):
            data.write_idx(tmp_path / name, array)
            back = data.read_idx(tmp_path / name)
            assert back.dtype == np.uint8 and back.shape == shape
            np.testing.assert_array_equal(back, array)
    raw = (tmp_path / "a-ubyte").read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3]) and int.from_bytes(raw[4:8], "big") == 4
    assert gzip.decompress((tmp_path / "a-ubyte.gz").read_bytes()) == raw
    with pytest.raises(ValueError, match="uint8"):
        data.write_idx(tmp_path / "b", np.zeros(3, np.int32))


def test_load_synthetic_scales_and_caches(tmp_path):
    arrays = _write_set(tmp_path / "d", gz=False)
    (x, y), (xt, yt) = data.load_dataset("mnist", tmp_path / "d", verify=False)
    assert x.dtype == np.float32 and x.shape == (6, 28, 28) and xt.shape == (4, 28, 28)
    assert y.dtype == np.uint8 and y.shape == (6,) and yt.shape == (4,)
    np.testing.assert_array_equal(x, arrays["train-images-idx3-ubyte"].astype(np.float32) / 255)
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte"])
    assert 0.0 <= x.min() and x.max() <= 1.0
    (x2, _), _ = data.load_dataset("mnist", tmp_path / "d", verify=False)
    assert x2 is x and data._decode.cache_info().hits == 1
    with pytest.raises(ValueError):
        x[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        y[0] = 3


def test_info_digests_fingerprint_and_npz_parity(tmp_path):
    arrays = _write_set(tmp_path / "idx")
    _write_npz(tmp_path / "npz" / "mnist.npz", arrays)
    _, info = data.load_dataset_with_info("mnist", tmp_path / "idx", verify=False)
    _, info_npz = data.load_dataset_with_info("mnist", tmp_path / "npz", verify=False)
    assert dict(info.sha256) == _idx_file_digests(tmp_path / "idx") == dict(info_npz.sha256)
    joined = "".join(info.sha256[b] for b in data.FILES)
    assert info.fingerprint == hashlib.sha256(joined.encode()).hexdigest()[:16] == info_npz.fingerprint
    assert info.source_path == str((tmp_path / "idx").resolve()) and not info.verified
    assert info_npz.source_path.endswith("mnist.npz")


def test_checksum_mismatch_and_match(tmp_path, monkeypatch):
    arrays = _write_set(tmp_path / "d")
    actual = data.idx_sha256(arrays["train-images-idx3-ubyte"])
    with pytest.raises(data.DataChecksumError) as err:
        data.load_dataset("mnist", tmp_path / "d")
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "4 file(s)" in msg
    assert data.SHA256["mnist"]["train-images-idx3-ubyte"] in msg and actual in msg
    assert "re-download" in msg and "delete" in msg
    for base, digest in _idx_file_digests(tmp_path / "d").items():
        monkeypatch.setitem(data.SHA256["mnist"], base, digest)
    _, info = data.load_dataset_with_info("mnist", tmp_path / "d")
    assert info.verified


def test_search_order_data_dir_env_keras_debian(tmp_path, monkeypatch):
    home = tmp_path / "home" / ".keras" / "datasets"
    _write_set(tmp_path / "given" / "fashion-mnist", seed=1)
    _write_set(tmp_path / "env" / "fashion-mnist", seed=2)
    _write_set(home / "fashion-mnist", seed=3)
    _write_set(data.DEBIAN_FASHION_DIR, seed=4)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))

    def source(**kw):
        return data.load_dataset_with_info("fashion-mnist", verify=False, **kw)[1].source_path

    assert source(data_dir=tmp_path / "given").startswith(str(tmp_path / "given"))
    assert source().startswith(str(tmp_path / "env"))
    monkeypatch.delenv(data.ENV_VAR)
    assert source() == str(home / "fashion-mnist")
    for f in (home / "fashion-mnist").iterdir():
        f.unlink()
    assert source() == str(data.DEBIAN_FASHION_DIR)


def test_env_dir_itself_and_incomplete_folder_is_skipped(tmp_path, monkeypatch):
    _write_set(tmp_path / "env")  # Files directly in $TFADV_DATA_DIR.
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.load_dataset_with_info("mnist", verify=False)[1].source_path == str(tmp_path / "env")
    (tmp_path / "env" / "t10k-labels-idx1-ubyte.gz").unlink()
    _write_npz(tmp_path / "home" / ".keras" / "datasets" / "mnist.npz", _arrays(5))
    _, info = data.load_dataset_with_info("mnist", verify=False)
    assert info.source_path.endswith(".keras/datasets/mnist.npz")


def test_keras_download_fallback(monkeypatch):
    arrays = _arrays(7)
    splits = ((arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
              (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]))
    monkeypatch.setattr(data, "_keras_download", lambda name: splits)
    (x, y), _ = data.load_dataset("mnist", verify=False)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])
    assert data.load_dataset_with_info("mnist", verify=False)[1].source_path == "keras.datasets.mnist.load_data()"
    with pytest.raises(data.DataNotFoundError, match="download=False"):
        data.load_dataset("mnist", download=False)


def test_missing_everywhere_lists_every_place(tmp_path, monkeypatch):
    (tmp_path / "env" / "fashion-mnist").mkdir(parents=True)
    data.write_idx(tmp_path / "env" / "fashion-mnist" / "train-images-idx3-ubyte.gz", _arrays(0)["train-images-idx3-ubyte"])
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_dataset("fashion_mnist")
    msg = str(err.value)
    for place in [
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "env" / "fashion_mnist",
        tmp_path / "env",
        tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist",
        data.DEBIAN_FASHION_DIR,
        "keras.datasets.fashion_mnist.load_data()",
    ]:
        assert f"{place}:" in msg
    assert msg.count("\n  ") == 6
    assert "incomplete, missing train-labels-idx1-ubyte" in msg and "ConnectionError" in msg
    assert "--data_dir" in msg and "TFADV_DATA_DIR" in msg
    assert all(f"{b}.gz" in msg for b in data.FILES)
    with pytest.raises(FileNotFoundError, match=r"\$TFADV_DATA_DIR: not set"):
        monkeypatch.delenv(data.ENV_VAR)
        data.load_dataset("mnist")


def test_explicit_data_dir_never_falls_back(tmp_path, monkeypatch):
    _write_set(tmp_path / "env" / "mnist")
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataNotFoundError) as err:
        data.load_dataset("mnist", tmp_path / "empty", verify=False)
    msg = str(err.value)
    assert f"data_dir {tmp_path / 'empty'} does not hold mnist" in msg
    assert str(tmp_path / "empty" / "mnist") in msg and str(tmp_path / "env") not in msg
    (tmp_path / "bad").mkdir()
    _write_set(tmp_path / "bad")
    (tmp_path / "bad" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(data.DataCorruptError, match="t10k-images-idx3-ubyte.gz"):
        data.load_dataset("mnist", tmp_path / "bad", verify=False)


def test_corrupt_set_in_search_path_raises_instead_of_next_place(tmp_path, monkeypatch):
    _write_set(tmp_path / "env" / "mnist", gz=False, **{"t10k-images-idx3-ubyte": np.zeros((4, 28, 27), np.uint8)})
    _write_npz(tmp_path / "home" / ".keras" / "datasets" / "mnist.npz", _arrays(3))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(data.DataFormatError) as err:
        data.load_dataset("mnist", verify=False)
    assert "t10k-images-idx3-ubyte" in str(err.value) and "(4, 28, 27)" in str(err.value)
    assert "expected (N, 28, 28)" in str(err.value)


def test_truncated_gzip(tmp_path):
    _write_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.DataCorruptError) as err:
        data.load_dataset("mnist", tmp_path, verify=False)
    assert str(path) in str(err.value) and "EOFError" in str(err.value) and "download it again" in str(err.value)


def test_corrupt_gzip_bytes(tmp_path):
    _write_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[20:60] = bytes(40)
    path.write_bytes(bytes(raw))
    with pytest.raises(data.DataCorruptError, match="cannot decompress") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_truncated_raw_idx(tmp_path):
    _write_set(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(data.DataCorruptError, match="truncated") as err:
        data.load_dataset("mnist", tmp_path, verify=False)
    assert "(6, 28, 28)" in str(err.value) and "4699" in str(err.value)


def test_wrong_magic(tmp_path):
    _write_set(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    data.write_idx(path, np.zeros((6, 1, 1), np.uint8))  # An images-style 3-D file.
    with pytest.raises(data.DataFormatError) as err:
        data.load_dataset("mnist", tmp_path, verify=False)
    msg = str(err.value)
    assert str(path) in msg and "magic number 2051" in msg and "expected 2049, labels" in msg
    path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(data.DataFormatError, match="should end in .gz"):
        data.read_idx(path)


def test_label_image_count_mismatch(tmp_path):
    _write_set(tmp_path, **{"train-labels-idx1-ubyte": np.zeros(5, np.uint8)})
    with pytest.raises(data.DataFormatError) as err:
        data.load_dataset("mnist", tmp_path, verify=False)
    msg = str(err.value)
    assert "holds 6 images" in msg and "holds 5 labels" in msg and "train-labels-idx1-ubyte.gz" in msg


def test_label_out_of_range(tmp_path):
    _write_set(tmp_path, **{"t10k-labels-idx1-ubyte": np.array([0, 1, 12, 3], np.uint8)})
    with pytest.raises(data.DataFormatError, match="label 12"):
        data.load_dataset("mnist", tmp_path, verify=False)


def test_names_and_class_names():
    with pytest.raises(ValueError, match="mnist, fashion_mnist"):
        data.load_dataset("cifar10")
    assert data.canonical_name("fashion-mnist") == "fashion_mnist"
    assert data.CLASS_NAMES["mnist"] == [str(i) for i in range(10)]
    assert len(data.CLASS_NAMES["fashion_mnist"]) == 10 and data.CLASS_NAMES["fashion_mnist"][9] == "Ankle boot"


def _real_has(sub: str) -> bool:
    return bool(REAL_DIR) and (Path(REAL_DIR) / sub / "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.skipif(not _real_has("mnist"), reason="TFADV_DATA_DIR unset or lacks mnist/")
def test_real_data():
    (x, y), (xt, yt) = data.load_dataset("mnist", REAL_DIR)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.rint(x * 255).mean() == pytest.approx(33.318421449829934, rel=1e-12)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    if _real_has("fashion-mnist"):
        (_, yf), (_, yft) = data.load_dataset("fashion_mnist", REAL_DIR)
        assert np.bincount(yf).tolist() == [6000] * 10 and np.bincount(yft).tolist() == [1000] * 10
