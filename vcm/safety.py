"""Refuse weights files whose pickle could run code, before anything unpickles them.

A `.pt` file is a zip whose `data.pkl` is a pickle, and a pickle is a program: `GLOBAL os system` + `REDUCE`
runs a shell command. ultralytics loads checkpoints with `torch.load(weights_only=False)`, and
`torch.load(weights_only=True)` refuses every real ultralytics checkpoint (they pickle the model classes).
So `check_weights_file` reads the pickle's opcodes without executing any (no import, no unpickling) and
refuses the file unless every name it references and every call it makes is on an allow-list:

- calls (REDUCE/OBJ/INST) only of data constructors: torch's tensor/parameter rebuilders, OrderedDict, set,
  numpy arrays/scalars/dtypes, paths, torch.Size/device; `getattr` only for a module's `forward`, and
  nothing computed can ever be called;
- classes of `torch.nn.modules.*`, `ultralytics.nn.*` and ultralytics' loss helpers only through NEWOBJ
  (`cls.__new__`, which runs no constructor) and BUILD (state into `__dict__`);
- storage types only inside torch's persistent ids; no copyreg extensions, no out-of-band buffers.

Measured on real ultralytics checkpoints (`YOLO("yolo11n.yaml").save()` and a trained `best.pt`): they pass
in ~20 ms (5 MB); a `__reduce__` payload is refused naming the global it tried to call. The load that follows
is also run in ultralytics' own restricted mode (`ULTRALYTICS_SAFE_LOAD`) where it exists: two independent
locks. `torch_load_weights_only` is the one way vcm's own checkpoints are read.
"""
from __future__ import annotations

import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

from vcm.errors import VcmError

FIX = "use weights you trust, saved by ultralytics or vcm (this file was not loaded)"

# Callables a checkpoint may call (REDUCE): data constructors only, none can run code.
_CALLABLE = {
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "torch.Size", "torch.device", "collections.OrderedDict", "builtins.set", "builtins.frozenset",
    "__builtin__.set", "__builtin__.frozenset", "builtins.slice", "builtins.complex", "builtins.bytearray",
    "_codecs.encode", "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib._local.PosixPath", "pathlib._local.WindowsPath",
    "datetime.datetime", "datetime.date", "datetime.timedelta",
}
# Names that may be referenced but not called: storages (persistent ids), dtypes, array classes.
_DATA = {
    "numpy.ndarray", "builtins.getattr", "__builtin__.getattr",
    "ultralytics.utils.IterableSimpleNamespace", "ultralytics.yolo.utils.IterableSimpleNamespace",
}
_STORAGE = re.compile(r"torch\.(storage\.)?(Untyped|Typed|Float|Half|BFloat16|Double|Long|Int|Short|Char|Byte|Bool"
                      r"|ComplexFloat|ComplexDouble)?Storage")
_DTYPE = re.compile(r"torch\.(float|half|bfloat|double|int|long|short|uint|bool|complex|cfloat|cdouble)\d*")
# Classes that may be created with NEWOBJ (cls.__new__: no constructor runs) and filled with BUILD.
_CLASS = re.compile(r"(torch\.nn\.modules(\.\w+)+|ultralytics\.nn(\.\w+)+)\.[A-Z]\w*"
                    r"|ultralytics\.utils\.(loss|tal)\.[A-Za-z]\w*")
# getattr is allowed only for these attributes of a module instance (ultralytics pickles bound `forward`s).
_GETATTR = {"forward", "forward_fuse"}
_STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
               "BINUNICODE8"}
_CONST_OPS = {"NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
              "FLOAT", "BINFLOAT", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"}


class UnsafeWeights(VcmError):
    """The file's pickle would call or name something outside the allow-list: it was not loaded."""


class _Mark:
    pass


class _Global:
    def __init__(self, name: str):
        self.name = name


class _Obj:
    """A value built while scanning: `kind` is what made it ('data', 'attr' for a getattr result)."""

    def __init__(self, kind: str = "data", items: tuple = ()):
        self.kind, self.items = kind, items


MARK = _Mark()


def _allowed_name(name: str) -> bool:
    return (name in _CALLABLE or name in _DATA or bool(_STORAGE.fullmatch(name)) or bool(_DTYPE.fullmatch(name))
            or bool(_CLASS.fullmatch(name)))


def scan_pickle(data: bytes, where: str, fix: str = FIX) -> set[str]:
    """Check one pickle program; return the globals it names. Raise VcmError at the first unsafe opcode."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    names: set[str] = set()

    def refuse(why: str):
        raise UnsafeWeights(f"refused: its pickle {why}; it may run code when loaded", path=where, fix=fix)

    def pop_mark() -> list:
        items = []
        while stack:
            v = stack.pop()
            if v is MARK:
                return items[::-1]
            items.append(v)
        refuse("is malformed (no MARK)")

    def pop():
        if not stack:
            refuse("is malformed (empty stack)")
        return stack.pop()

    def glob(name: str) -> _Global:
        if not _allowed_name(name):
            refuse(f"names {name}")
        names.add(name)
        return _Global(name)

    def call(fn, args) -> _Obj:
        if not isinstance(fn, _Global):
            refuse("calls a computed object")
        if fn.name in ("builtins.getattr", "__builtin__.getattr"):
            items = args.items if isinstance(args, _Obj) else ()
            if (len(items) != 2 or not isinstance(items[0], _Obj) or items[0].kind != "module"
                    or items[1] not in _GETATTR):
                refuse("uses getattr outside a module's forward")
            return _Obj("attr")
        if fn.name not in _CALLABLE:
            refuse(f"calls {fn.name}")
        return _Obj()

    def target(v, what: str):
        if not isinstance(v, _Obj) or v.kind == "attr":
            refuse(f"applies {what} to a class or attribute")

    try:
        ops = pickletools.genops(data)
        for op, arg, _pos in ops:
            n = op.name
            if n in ("PROTO", "FRAME"):
                continue
            if n == "STOP":
                break
            if n in _STRING_OPS:
                stack.append(arg if isinstance(arg, str) else _Obj())
            elif n in _CONST_OPS:
                stack.append(_Obj())
            elif n in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "EMPTY_SET"):
                stack.append(_Obj())
            elif n == "MARK":
                stack.append(MARK)
            elif n == "POP":
                pop()
            elif n == "POP_MARK":
                pop_mark()
            elif n == "DUP":
                stack.append(stack[-1] if stack else refuse("is malformed"))
            elif n in ("TUPLE", "LIST", "DICT", "FROZENSET"):
                stack.append(_Obj(items=tuple(pop_mark())))
            elif n in ("TUPLE1", "TUPLE2", "TUPLE3"):
                k = int(n[-1])
                items = tuple(pop() for _ in range(k))[::-1]
                stack.append(_Obj(items=items))
            elif n == "APPEND":
                pop()
                target(stack[-1] if stack else None, "append")
            elif n in ("APPENDS", "SETITEMS", "ADDITEMS"):
                pop_mark()
                target(stack[-1] if stack else None, n.lower())
            elif n == "SETITEM":
                pop(), pop()
                target(stack[-1] if stack else None, "setitem")
            elif n in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = stack[-1] if stack else refuse("is malformed")
            elif n == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else refuse("is malformed")
            elif n in ("GET", "BINGET", "LONG_BINGET"):
                if int(arg) not in memo:
                    refuse("is malformed (unknown memo)")
                stack.append(memo[int(arg)])
            elif n == "GLOBAL":
                module, _, name = str(arg).partition(" ")
                stack.append(glob(f"{module}.{name}"))
            elif n == "STACK_GLOBAL":
                name, module = pop(), pop()
                if not (isinstance(name, str) and isinstance(module, str)):
                    refuse("builds a global name from computed values")
                stack.append(glob(f"{module}.{name}"))
            elif n == "REDUCE":
                args = pop()
                stack.append(call(pop(), args))
            elif n == "OBJ":
                items = pop_mark()
                if not items:
                    refuse("is malformed")
                stack.append(call(items[0], _Obj(items=tuple(items[1:]))))
            elif n == "INST":
                module, _, name = str(arg).partition(" ")
                stack.append(call(glob(f"{module}.{name}"), _Obj(items=tuple(pop_mark()))))
            elif n in ("NEWOBJ", "NEWOBJ_EX"):
                if n == "NEWOBJ_EX":
                    pop()
                pop()
                cls = pop()
                if not isinstance(cls, _Global) or not (_CLASS.fullmatch(cls.name) or cls.name in _DATA
                                                        or cls.name in _CALLABLE):
                    refuse(f"creates {getattr(cls, 'name', 'a computed class')}")
                stack.append(_Obj("module" if _CLASS.fullmatch(cls.name) else "data"))
            elif n == "BUILD":
                pop()
                target(stack[-1] if stack else None, "BUILD")
            elif n == "BINPERSID":
                pop()
                stack.append(_Obj())
            elif n == "PERSID":
                stack.append(_Obj())
            else:  # EXT1/2/4 (copyreg registry), NEXT_BUFFER, READONLY_BUFFER, anything new
                refuse(f"uses the opcode {n}")
    except VcmError:
        raise
    except Exception as e:  # truncated or garbage pickle: not loadable anyway
        raise VcmError(f"not a readable checkpoint (damaged pickle: {type(e).__name__})", path=where,
                       fix="re-download or re-save the weights file") from None
    return names


def check_weights_file(path: str | Path, fix: str = FIX) -> set[str]:
    """Refuse `path` unless it is a torch zip checkpoint whose pickles are all on the allow-list.

    Returns the globals the file names. Reads only the pickles inside the zip, never the tensors; runs no
    code of the file. Raise VcmError (exit 2, one line naming the file) otherwise.
    """
    p = Path(path)
    try:
        if not zipfile.is_zipfile(p):
            raise VcmError("not a torch zip checkpoint (damaged, legacy format or another kind of file)", path=p,
                           fix="re-save it with torch.save or ultralytics (a zip file)")
        with open(p, "rb") as fh:
            head = fh.read(4)
        with zipfile.ZipFile(p) as z:
            # torch.load reads a file as a zip only when it STARTS with a zip header; anything before the zip
            # (which Python's zipfile skips) is what torch would unpickle: scan exactly what torch will read
            first = min((i.header_offset for i in z.infolist()), default=None)
            if head != b"PK\x03\x04" or first != 0:
                raise UnsafeWeights("refused: bytes come before the zip (torch would unpickle them, not the zip's "
                                    "data.pkl)", path=p, fix=fix)
            pkls = [i for i in z.infolist() if i.filename.endswith(".pkl")]
            if not pkls:
                raise VcmError("no pickle inside: not a torch checkpoint", path=p, fix="give a .pt weights file")
            names: set[str] = set()
            for info in pkls:
                names |= scan_pickle(z.read(info), str(p), fix)
            return names
    except VcmError:
        raise
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError) as e:
        raise VcmError(f"cannot read the weights file ({type(e).__name__}: {e})", path=p,
                       fix="re-download or re-save the weights file") from None


def torch_load_weights_only(path: str | Path, **kwargs: Any) -> Any:
    """`torch.load(weights_only=True)` with a one-line error: vcm's own checkpoints hold only tensors and plain
    values, so anything else is refused without running it; a damaged file names itself."""
    import pickle

    import torch

    fix = "delete it and rerun (a resume file: add --restart)"
    if not Path(path).is_file():
        raise VcmError("file not found", path=path, fix="check the path")
    if not zipfile.is_zipfile(path):  # torch.save writes zip files; anything else is cut, damaged or foreign
        raise VcmError("damaged checkpoint (not a torch zip file)", path=path, fix=fix)
    check_weights_file(path, fix="use a checkpoint written by vcm (a resume file: delete it or add --restart)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, **kwargs)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) or "Unsupported operand" in str(e):
            raise VcmError("refused: it holds objects other than tensors and plain values (it was not loaded)",
                           path=path, fix="use a checkpoint written by vcm; a resume file: add --restart") from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise VcmError(f"damaged checkpoint ({first[:120]})", path=path, fix=fix) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise VcmError(f"damaged checkpoint ({type(e).__name__}: {first[:120]})", path=path, fix=fix) from None


def enable_ultralytics_safe_load() -> None:
    """Turn on ultralytics' own weights_only loading (8.4+) as a second lock; a no-op where it does not exist."""
    import os

    os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")
    import sys

    for mod in ("ultralytics.utils", "ultralytics.nn.tasks"):
        m = sys.modules.get(mod)
        if m is not None and hasattr(m, "SAFE_LOAD"):
            m.SAFE_LOAD = True


def check_detector_spec(spec: str | None) -> None:
    """Pre-check a `--detector` that names a local weights file (not a yaml, not a built-in name), so commands
    that build their detector late (in worker processes) refuse an unsafe file at once, with exit 2."""
    if not spec:
        return
    p = Path(spec).expanduser()
    if p.is_file() and p.suffix.lower() not in (".yaml", ".yml"):
        check_weights_file(p)
