"""Refuse model artifacts that would run code when loaded, before anything signs them.

Pickle (and joblib, and PyTorch's zip of pickles) can import any callable while loading: a
model file that imports ``os.system`` or ``builtins.eval`` runs whatever its author wanted on
the serving host. :func:`scan_artifact` disassembles every pickle-like file in a model
directory with `picklescan <https://github.com/mmaitre314/picklescan>`_ (it never loads
them) and raises :class:`~modelsteward.errors.UnsafeArtifactError` naming the file and the
dangerous global.

picklescan only looks at files with known extensions; we also scan any other file whose first
bytes are a pickle protocol header, so renaming ``evil.pkl`` to ``weights`` does not hide it.
Globals picklescan cannot classify (sklearn, numpy, ...) are reported as *suspicious* in the
result, not refused: a normal scikit-learn model imports dozens of them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from modelsteward.errors import NotFoundError, UnsafeArtifactError

__all__ = ["Finding", "ScanReport", "scan_artifact"]

log = logging.getLogger(__name__)

_PICKLE_HEADERS = tuple(bytes([0x80, protocol]) for protocol in range(6))
_KNOWN_SUFFIXES = {
    ".pkl",
    ".pickle",
    ".joblib",
    ".dat",
    ".data",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".npy",
    ".npz",
    ".zip",
    ".7z",
}


@dataclass(frozen=True)
class Finding:
    """One global a pickle imports, with picklescan's verdict."""

    file: str
    module: str
    name: str
    safety: str  # "dangerous" | "suspicious"

    def __str__(self) -> str:
        return f"{self.file}: {self.module}.{self.name} ({self.safety})"


@dataclass(frozen=True)
class ScanReport:
    """What was scanned and what was found (only returned when nothing is dangerous)."""

    root: str
    scanned: tuple[str, ...]
    suspicious: tuple[Finding, ...] = field(default_factory=tuple)
    dangerous: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def clean(self) -> bool:
        return not self.dangerous

    def summary(self) -> dict[str, object]:
        return {
            "scanner": f"picklescan {_picklescan_version()}",
            "scanned_files": list(self.scanned),
            "suspicious_globals": sorted({f"{f.module}.{f.name}" for f in self.suspicious}),
            "dangerous": [str(f) for f in self.dangerous],
        }


def _picklescan_version() -> str:
    from importlib.metadata import version

    try:
        return version("picklescan")
    except Exception:
        return "?"


def _candidates(root: Path) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    chosen: list[Path] = []
    for path in files:
        if path.suffix.lower() in _KNOWN_SUFFIXES:
            chosen.append(path)
            continue
        with path.open("rb") as handle:
            if handle.read(2) in _PICKLE_HEADERS:
                chosen.append(path)
    return chosen


def scan_artifact(path: str | os.PathLike[str], *, raise_on_unsafe: bool = True) -> ScanReport:
    """Scan a model directory (or one file); raise :class:`UnsafeArtifactError` if unsafe.

    A file picklescan cannot fully parse but in which it already found a dangerous import
    still counts as dangerous (a truncated malicious pickle is still malicious).
    """
    from picklescan.scanner import SafetyLevel, scan_bytes

    root = Path(path)
    if not root.exists():
        raise NotFoundError(f"{root}: no such model file or directory to scan")
    files = [root] if root.is_file() else _candidates(root)
    base = root.parent if root.is_file() else root
    dangerous: list[Finding] = []
    suspicious: list[Finding] = []
    for file in files:
        relative = file.relative_to(base).as_posix()
        with file.open("rb") as handle:
            # picklescan picks the parser from the suffix; unknown suffixes parse as pickle
            suffix = file.suffix.lower() if file.suffix.lower() in _KNOWN_SUFFIXES else None
            result = scan_bytes(handle, relative, suffix)
        for found in result.globals:
            finding = Finding(relative, found.module, found.name, found.safety.value)
            if found.safety is SafetyLevel.Dangerous:
                dangerous.append(finding)
            elif found.safety is SafetyLevel.Suspicious:
                suspicious.append(finding)
    report = ScanReport(
        root=str(root),
        scanned=tuple(f.relative_to(base).as_posix() for f in files),
        suspicious=tuple(suspicious),
        dangerous=tuple(dangerous),
    )
    log.info(
        "event=artifact_scanned root=%s files=%d dangerous=%d suspicious=%d",
        root,
        len(files),
        len(dangerous),
        len(suspicious),
    )
    if dangerous and raise_on_unsafe:
        first = dangerous[0]
        others = f" (and {len(dangerous) - 1} more)" if len(dangerous) > 1 else ""
        raise UnsafeArtifactError(
            f"{root}: {first.file} imports {first.module}.{first.name}, which runs code when "
            f"the file is loaded{others}; refusing to sign or store it. Re-export the model "
            "without custom reducers (or in a format without code, e.g. skops/safetensors)"
        )
    return report
