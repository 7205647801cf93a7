"""Atomic file writes and file hashing: outputs appear whole or not at all, inputs are never touched."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get normal permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | Path, obj: Any, indent: int = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, default=str) + "\n")


def state_dir() -> Path:
    """Where vcm keeps small state files: inside $VCM_CACHE_DIR when it is set (nothing is written outside it)."""
    env = os.environ.get("VCM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "vcm"


def regular_file(path: str | Path) -> bool:
    """True for a regular file (links followed). A FIFO, socket or device is not one: opening a FIFO waits for a
    writer forever, so folder commands never open what fails this."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


NOT_REGULAR = "not a regular file (a FIFO, socket or device): not read"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    import errno

    if Path(path).exists() and not Path(path).is_dir() and not regular_file(path):
        raise OSError(errno.EINVAL, NOT_REGULAR, str(path))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def refuse_overwrite_input(out: str | Path, *inputs: str | Path) -> None:
    """Raise if an output path is one of the inputs (we never overwrite an input)."""
    from vcm.errors import VcmError

    o = Path(out).resolve()
    for i in inputs:
        if Path(i).resolve() == o:
            raise VcmError("output would overwrite the input", path=out, fix="choose another -o path")


def _key(p: str | Path) -> Path:
    return Path(os.path.abspath(Path(p).expanduser())).resolve()


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:  # hard links, bind mounts, case-insensitive file systems
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, folder: Path) -> bool:
    return child != folder and folder in child.parents


def _label(name: str, p: str | Path) -> str:
    return f"{name} {p}" if name else str(p)


def check_outputs(inputs: Any, outputs: Any, *, input_folders: Any = (), output_folders: Any = ()) -> None:
    """Refuse, before anything is read or written, outputs that would destroy an input or each other.

    inputs / outputs: paths, or {option name: path} for the message (None and "-" = stdout are skipped).
    input_folders: folders read recursively (batch, label, benchmark DATA); an output folder equal to or inside
    one of them is refused (a rerun would read the outputs as inputs), as is an output file inside one that the
    command would pick up. output_folders: folders written into; one that holds an input file is fine unless an
    explicit output (the caller lists the files it will write there) equals that input.
    Raises VcmError naming both paths and the fix (one line, exit 2).
    """
    from vcm.errors import VcmError

    def items(x) -> list[tuple[str, Path, str]]:
        if x is None:
            return []
        pairs = x.items() if isinstance(x, dict) else [("", v) for v in ([x] if isinstance(x, (str, Path)) else x)]
        out = []
        for name, v in pairs:
            if v is None or str(v) in ("", "-"):
                continue
            for each in ([v] if isinstance(v, (str, Path)) else v):
                out.append((name, _key(each), str(each)))
        return out

    ins, outs = items(inputs), items(outputs)
    in_dirs, out_dirs = items(input_folders), items(output_folders)
    for oname, o, oraw in outs + out_dirs:
        for iname, i, iraw in ins + in_dirs:
            if _same(o, i):
                raise VcmError(f"{_label(oname, oraw)} is the input {_label(iname, iraw)}: it would be overwritten",
                               path=oraw, fix="write the output somewhere else")
        for iname, i, iraw in in_dirs:
            if _inside(o, i) and (oname, o, oraw) in out_dirs:
                raise VcmError(f"output folder {_label(oname, oraw)} is inside the input folder {iraw}: a rerun "
                               "would read the outputs as inputs", path=oraw, fix="choose a folder outside it")
    seen: dict[Path, tuple[str, str]] = {}
    for oname, o, oraw in outs + out_dirs:
        for p, (pname, praw) in seen.items():
            if _same(o, p):
                raise VcmError(f"{_label(oname, oraw)} and {_label(pname, praw)} are the same file: one output "
                               "would replace the other", path=oraw, fix="give each output its own path")
        seen[o] = (oname, oraw)
    for oname, o, oraw in outs:
        for dname, d, draw in out_dirs:
            if _same(o, d):
                raise VcmError(f"{_label(oname, oraw)} is the output folder {_label(dname, draw)}", path=oraw,
                               fix="give each output its own path")


def check_writable(*paths: str | Path | None) -> None:
    """Probe, before any work, that each output path can be created: its nearest existing folder takes a new
    file (a real probe: permission bits, read-only mounts, immutable folders, root all answer truthfully).
    A path whose parent is missing is probed at the first existing ancestor (atomic writes create folders)."""
    from vcm.errors import VcmError

    done: set[Path] = set()
    for raw in paths:
        if raw is None or str(raw) in ("", "-"):
            continue
        p = _key(raw)
        folder = p.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise VcmError(f"{folder} is not a folder", path=raw, fix="choose an output path in a folder")
        if folder in done:
            continue
        try:
            fd, probe = tempfile.mkstemp(prefix=".vcm-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise VcmError(f"cannot write into {folder} ({e.strerror or type(e).__name__})", path=raw,
                           fix="choose a writable output folder or fix its permissions") from None
        done.add(folder)
        if p.exists() and not os.access(p, os.W_OK) and os.geteuid() != 0:
            raise VcmError("the existing file is read-only", path=raw, fix="remove it or write elsewhere")


def check_output_folder(folder: str | Path) -> None:
    """Probe a folder that will be written into (created when missing)."""
    check_writable(Path(folder) / ".probe")


def spec_files(*specs: str | None) -> list[str]:
    """The local files named by detector / predictor specs (`runs/best.pt`, `dtjrd:ckpt.pt`): inputs too."""
    out = []
    for s in specs:
        if not s:
            continue
        s = s.split(":", 1)[1] if s.startswith("dtjrd:") else s
        if Path(s).expanduser().is_file():
            out.append(s)
    return out


def guard_outputs(inputs: Any, outputs: dict[str, Any], **folders: Any) -> None:
    """`check_outputs` then `check_writable` on every output file: the one call at the top of a command."""
    check_outputs(inputs, outputs, **folders)
    files = []
    for v in outputs.values():
        if v is None:
            continue
        files.extend([v] if isinstance(v, (str, Path)) else list(v))
    dirs = folders.get("output_folders") or {}
    dirs = dirs.values() if isinstance(dirs, dict) else dirs
    check_writable(*files, *[Path(d) / ".probe" for d in dirs if d is not None])


class StagedFiles:
    """Several outputs that appear together or not at all: `path(final)` gives a temp path beside `final`;
    leaving the `with` block normally renames them all into place, an error removes every temp (and the
    folders this created). Use it where one command writes many files (drawings, a .266 plus its JSON)."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._made: list[Path] = []

    def path(self, final: str | Path) -> Path:
        final = Path(final)
        missing = []
        d = final.parent
        while not d.exists() and d != d.parent:
            missing.append(d)
            d = d.parent
        final.parent.mkdir(parents=True, exist_ok=True)
        self._made.extend(reversed(missing))
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + final.suffix, dir=final.parent)
        os.close(fd)
        self._pending.append((Path(tmp), final))
        return Path(tmp)

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for tmp, final in self._pending:
                if tmp.exists():
                    os.chmod(tmp, 0o666 & ~_umask())
                    os.replace(tmp, final)
            return
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        for d in reversed(self._made):  # deepest first; only folders this created, only if left empty
            try:
                d.rmdir()
            except OSError:
                pass


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json_checked(path: str | Path, fix: str = "give a valid JSON file") -> Any:
    """Parse a JSON input with one-line errors naming the file: missing, not UTF-8, not JSON, NaN/Infinity
    literals (refused: a NaN score poisons every mean downstream), or nested too deep to parse."""
    from vcm.errors import VcmError

    p = Path(path)
    if not p.is_file():
        raise VcmError("no such file", path=p, fix="check the path")
    try:
        return json.loads(p.read_text(encoding="utf-8-sig"), parse_constant=_no_constant)  # a BOM is no error
    except json.JSONDecodeError as e:
        raise VcmError(f"not valid JSON (line {e.lineno}: {e.msg})", path=p, fix=fix) from None
    except UnicodeDecodeError:
        raise VcmError("not valid JSON (not UTF-8 text)", path=p, fix=fix) from None
    except ValueError as e:
        raise VcmError(f"not valid JSON ({e})", path=p, fix="write numbers as numbers (no NaN or Infinity)") from None
    except RecursionError:
        raise VcmError("JSON nested too deeply to read", path=p, fix=fix) from None


def default_frames_dir() -> Path:
    """Where the bundled sets' decoded frames and photos are cached (`$VCM_BUNDLED_DIR`, else ~/.cache/vcm/bundled):
    here, not in vcm.bundled, so vcm.bundled and vcm.photos do not import each other."""
    env = os.environ.get("VCM_BUNDLED_DIR")
    return Path(env) if env else Path.home() / ".cache" / "vcm" / "bundled"
