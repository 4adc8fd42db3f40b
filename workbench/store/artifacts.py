"""The content-addressed artifact folder beside the database file.

Every file is stored once, under its sha256 (``objects/ab/cdef...``), written
to a temporary name and renamed so that a reader never sees half a file.
Runs refer to objects by logical path; logical paths that would leave the
artifact root are refused. Reading verifies the hash.

>>> import tempfile
>>> cas = ArtifactStore(tempfile.mkdtemp())
>>> sha, size = cas.put_bytes(b"hello")
>>> cas.read(sha)
b'hello'
>>> check_logical_path("../etc/passwd")
Traceback (most recent call last):
...
workbench.errors.ArtifactPathError: artifact path '../etc/passwd' leaves the artifact root ('..' is not allowed)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from workbench.errors import ArtifactIntegrityError, ArtifactPathError, NotFoundError

_CHUNK = 1 << 20


def check_logical_path(path: str) -> str:
    """Normalise a logical artifact path, refusing ones that leave the root.

    Returns the path with forward slashes and no ``.`` parts.
    """
    if not isinstance(path, str) or not path.strip():
        raise ArtifactPathError(f"artifact path must be a non-empty string, got {path!r}")
    if "\x00" in path:
        raise ArtifactPathError(f"artifact path {path!r} contains a NUL character")
    if path.startswith(("/", "\\")) or PureWindowsPath(path).drive:
        raise ArtifactPathError(f"artifact path {path!r} is absolute; give a relative path")
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if ".." in parts:
        raise ArtifactPathError(f"artifact path {path!r} leaves the artifact root ('..' is not allowed)")
    clean = [p for p in parts if p not in (".", "")]
    if not clean:
        raise ArtifactPathError(f"artifact path {path!r} names no file")
    return "/".join(clean)


def sha256_file(path: str | os.PathLike) -> tuple[str, int]:
    """The sha256 hex digest and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ArtifactStore:
    """Files stored once by content hash under ``root/objects``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        """Where the object with this hash lives (whether or not it exists)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ArtifactPathError(f"{sha256!r} is not a sha256 hex digest")
        return self.objects / sha256[:2] / sha256[2:]

    def put_file(self, src: str | os.PathLike) -> tuple[str, int]:
        """Copy a file in (once per distinct content); returns (sha256, size)."""
        src = Path(src)
        if not src.is_file():
            raise NotFoundError(f"no such file to log as an artifact: {src}")
        fd, tmp = tempfile.mkstemp(dir=self.objects, prefix=".tmp-")
        digest = hashlib.sha256()
        size = 0
        try:
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                while chunk := fin.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    fout.write(chunk)
                fout.flush()
                os.fsync(fout.fileno())
            return self._commit(tmp, digest.hexdigest()), size
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store bytes; returns (sha256, size)."""
        sha = hashlib.sha256(data).hexdigest()
        if self.path_for(sha).exists():
            return sha, len(data)
        fd, tmp = tempfile.mkstemp(dir=self.objects, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fout:
                fout.write(data)
                fout.flush()
                os.fsync(fout.fileno())
            return self._commit(tmp, sha), len(data)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _commit(self, tmp: str, sha: str) -> str:
        dest = self.path_for(sha)
        if not dest.exists():
            dest.parent.mkdir(exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        return sha

    def verify(self, sha256: str) -> Path:
        """The object's path after checking that its bytes still hash to ``sha256``."""
        path = self.path_for(sha256)
        if not path.exists():
            raise NotFoundError(f"artifact object {sha256} is missing from {self.objects}")
        actual, _ = sha256_file(path)
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"artifact object {path} is corrupted: expected sha256 {sha256}, found {actual}"
            )
        return path

    def read(self, sha256: str) -> bytes:
        """The object's bytes, verified against its hash."""
        path = self.path_for(sha256)
        if not path.exists():
            raise NotFoundError(f"artifact object {sha256} is missing from {self.objects}")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"artifact object {path} is corrupted: expected sha256 {sha256}, found {actual}"
            )
        return data

    def copy_to(self, sha256: str, dest: str | os.PathLike) -> Path:
        """Copy a verified object to ``dest``; returns ``dest``."""
        shutil.copyfile(self.verify(sha256), dest)
        os.chmod(dest, 0o644)
        return Path(dest)
