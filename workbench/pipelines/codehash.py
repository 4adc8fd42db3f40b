"""A step's code hash: its own source and the source of the project code it reaches.

The hash covers the step function and, transitively, every function, class and
module of the *user's project* that it references by a global name (directly, in
a nested function or comprehension, or through a closure), plus the values of
simple module-level constants it reads (numbers, strings, tuples of them).
"Project" means any module that is not part of the standard library, not under
an installed ``site-packages``/``dist-packages`` folder and not the
``workbench`` package itself; functions defined in a script or a notebook
(``__main__``) are project code. A referenced project *module* (``import
helpers`` then ``helpers.f()``) is covered by its whole source and, in turn, by
everything it references.

Not covered: installed packages (their version is the environment's business),
code reached only dynamically (``getattr(module, name)``, ``importlib``), data
files (a step reading files declares ``__wb_fingerprint__``) and mutable
module-level objects (dicts, arrays).

>>> def helper(x):
...     return x + 1
>>> def step_fn(x):
...     return helper(x)
>>> len(transitive_code_hash(step_fn))
64
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import linecache
import marshal
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable
from typing import Any

_SIMPLE = (int, float, str, bytes, bool, complex, type(None))
_LIBRARY_ROOTS = tuple(
    os.path.realpath(p) for p in {
        sysconfig.get_paths().get("stdlib"), sysconfig.get_paths().get("platstdlib"),
        sysconfig.get_paths().get("purelib"), sysconfig.get_paths().get("platlib"),
    } if p
)
_MAX_OBJECTS = 2000  # a bound on the walk (a project larger than this is hashed in part)


def is_project_module(module_name: str | None) -> bool:
    """Whether a module is the user's project code (see the module docstring)."""
    if not module_name:
        return False
    if module_name == "__main__":
        return True
    top = module_name.partition(".")[0]
    if top == "workbench" or top in sys.stdlib_module_names or top == "builtins":
        return False
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if path is None:  # a namespace package, or code defined interactively
        return module is not None and not hasattr(module, "__path__")
    real = os.path.realpath(path)
    if "site-packages" in real or "dist-packages" in real:
        return False
    return not any(real.startswith(root + os.sep) for root in _LIBRARY_ROOTS)


def _source(obj: Any) -> bytes:
    try:
        filename = inspect.getsourcefile(obj)
        if filename:
            linecache.checkcache(filename)  # see edits made since the file was first read
        return textwrap.dedent(inspect.getsource(obj)).encode()
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            # never repr(): a partial's or an instance's holds a memory address, new in every process
            if isinstance(obj, functools.partial):
                return _source(obj.func) + repr((obj.args, sorted(obj.keywords.items()))).encode()
            if callable(obj) and not isinstance(obj, type):  # an instance with __call__
                cls = type(obj)
                return f"{cls.__module__}.{cls.__qualname__}".encode() + _source(cls)
            return repr(obj).encode()
        try:
            return marshal.dumps(code)
        except ValueError:
            return code.co_code + repr(code.co_consts).encode()


def _name(obj: Any) -> str:
    """A name that is the same in every process (a partial's or an instance's repr holds an address)."""
    if isinstance(obj, functools.partial):
        return f"partial({_name(obj.func)})"
    qualname = getattr(obj, "__qualname__", None)
    return qualname if isinstance(qualname, str) else f"{type(obj).__qualname__}()"


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _simple(value: Any) -> bool:
    if isinstance(value, _SIMPLE):
        return True
    if isinstance(value, (tuple, frozenset)) and len(value) <= 100:
        return all(_simple(v) for v in value)
    return False


class _Walk:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.parts: dict[str, bytes] = {}

    def _add(self, label: str, data: bytes) -> None:
        self.parts[label] = hashlib.sha256(data).digest()

    def function(self, func: Callable, root: bool = False) -> None:
        func = inspect.unwrap(func)
        if id(func) in self.seen or len(self.seen) > _MAX_OBJECTS:
            return
        self.seen.add(id(func))
        module = getattr(func, "__module__", None)
        if not root and not is_project_module(module):
            return
        label = f"{module}:{_name(func)}"
        self._add(label, _source(func))
        code = getattr(func, "__code__", None)
        if code is None:
            return
        scope = getattr(func, "__globals__", {}) or {}
        for name in sorted(_code_names(code)):
            if name in scope:
                self.value(f"{module}.{name}", scope[name])
        for i, cell in enumerate(getattr(func, "__closure__", None) or ()):
            try:
                self.value(f"{label}<closure {i}>", cell.cell_contents)
            except ValueError:  # an empty cell
                pass

    def value(self, label: str, value: Any) -> None:
        if _simple(value):
            self._add(label, repr(value).encode())
        elif isinstance(value, types.ModuleType):
            self.module(value)
        elif isinstance(value, type):
            self.klass(value)
        elif isinstance(value, (types.FunctionType, types.MethodType)) or (
            callable(value) and hasattr(value, "__wrapped__")
        ):
            self.function(getattr(value, "__func__", value))

    def klass(self, cls: type) -> None:
        if id(cls) in self.seen or not is_project_module(getattr(cls, "__module__", None)):
            return
        self.seen.add(id(cls))
        self._add(f"{cls.__module__}:{cls.__qualname__}", _source(cls))
        for attr in vars(cls).values():
            target = getattr(attr, "__func__", attr)
            if isinstance(target, types.FunctionType):
                self.function(target)

    def module(self, module: types.ModuleType) -> None:
        if id(module) in self.seen or not is_project_module(module.__name__):
            return
        self.seen.add(id(module))
        self._add(f"module {module.__name__}", _source(module))
        for name, value in sorted(vars(module).items()):
            if name.startswith("__"):
                continue
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
                self.function(value)
            elif isinstance(value, type) and value.__module__ == module.__name__:
                self.klass(value)
            elif isinstance(value, types.ModuleType):
                self.module(value)


def transitive_code_hash(func: Callable) -> str:
    """sha256 over the step function's source and the project code it reaches (see above)."""
    walk = _Walk()
    walk.function(func, root=True)
    digest = hashlib.sha256()
    for label in sorted(walk.parts):
        digest.update(label.encode() + b"\0" + walk.parts[label])
    return digest.hexdigest()


def reached_code(func: Callable) -> list[str]:
    """The labels of everything the hash of ``func`` covers (to see what a change invalidates)."""
    walk = _Walk()
    walk.function(func, root=True)
    return sorted(walk.parts)
