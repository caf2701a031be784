"""The artifact scanner refuses pickles that would run code, and never loads them."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from modelsteward.errors import NotFoundError, UnsafeArtifactError
from modelsteward.scanning import scan_artifact


class _RunsShell:
    """Pickling this yields a payload that calls os.system on load. Never unpickle it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


class _Evals:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (eval, ("1+1",))


def _model_dir(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "model.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0], "bias": 0.5}))
    return root


def test_clean_model_passes(tmp_path: Path) -> None:
    report = scan_artifact(_model_dir(tmp_path / "model"))
    assert report.clean
    assert report.scanned == ("model.pkl",)
    assert report.summary()["dangerous"] == []


def test_malicious_pickle_is_refused_naming_file_and_global(tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "model")
    marker = tmp_path / "pwned"
    (model / "model.pkl").write_bytes(pickle.dumps(_RunsShell(marker)))
    with pytest.raises(UnsafeArtifactError, match=r"model\.pkl imports posix\.system"):
        scan_artifact(model)
    assert not marker.exists()  # scanning never loads


def test_renamed_pickle_without_known_suffix_is_still_scanned(tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "model")
    (model / "weights").write_bytes(pickle.dumps(_Evals(), protocol=4))
    with pytest.raises(UnsafeArtifactError, match=r"weights imports builtins\.eval"):
        scan_artifact(model)


def test_joblib_suffix_and_nested_directory(tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "model")
    (model / "sub").mkdir()
    (model / "sub" / "est.joblib").write_bytes(pickle.dumps(_RunsShell(tmp_path / "x")))
    with pytest.raises(UnsafeArtifactError, match=r"sub/est\.joblib"):
        scan_artifact(model)


def test_report_without_raising_lists_findings(tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "model")
    (model / "evil.pkl").write_bytes(pickle.dumps(_RunsShell(tmp_path / "x")))
    report = scan_artifact(model, raise_on_unsafe=False)
    assert not report.clean
    assert [str(f) for f in report.dangerous] == ["evil.pkl: posix.system (dangerous)"]


def test_sklearn_model_is_clean_but_suspicious_globals_reported(tmp_path: Path) -> None:
    from modelsteward.samples import save_sample_model

    model = save_sample_model(tmp_path / "sk", rows=300)
    report = scan_artifact(model)
    assert report.clean
    assert any("sklearn" in g for g in report.summary()["suspicious_globals"])  # type: ignore[union-attr]


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such model"):
        scan_artifact(tmp_path / "nope")
