"""The coding standard's rule on signatures holds across src/headsplat: "Keyword-only parameters
(``*``) for every public function with a boolean or more than four parameters; no positional
booleans at call sites."

Checked on the AST of every module, without importing it: a public function may take at most four
positional parameters (positional-only or positional-or-keyword; a method's ``self`` or ``cls`` does
not count, a ``@staticmethod``'s first parameter does), and a boolean parameter (annotated ``bool``,
``bool | None``, ``Optional[bool]``, or with a literal ``True``/``False`` default) must come after
the ``*``.

What counts as public: a function or method whose name does not start with ``_``, and a public
class's ``__init__`` (its constructor's signature; the other dunders are out), defined at a
module's top level or in the body of a public class. Functions nested in other functions are
skipped (they are no API, though the rule is kept in them too where it helps), and so are the
methods of classes whose name starts with ``_`` (the class is private to its module; its methods
are called only there).

:data:`EXEMPT` lists, with the reason, what keeps a positional signature on purpose; an entry that
no longer names a module or a checked function fails too, so the list cannot go stale.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "headsplat"
MAX_POSITIONAL = 4

_GSPLAT = (
    "the rasterization family follows gsplat's rasterization(means, quats, scales, opacities, "
    "colors, ...) convention: the Gaussians' tensors positional, as every 3DGS rasterizer takes them"
)
_NUMBA = "numba-compiled kernels: nopython mode takes no keyword-only parameters"

# "headsplat.module.qualname" (one function) or a path under src/headsplat (a whole module): why.
EXEMPT = {
    "render/cpu_kernels.py": _NUMBA,
    "render/cpu_projection.py": _NUMBA,
    "headsplat.render.api.rasterize": _GSPLAT,
    "headsplat.render.cpu.render_cpu": _GSPLAT,
    "headsplat.render.reference.render_reference": _GSPLAT,
    "headsplat.render.gsplat_backend.rasterize_gsplat": _GSPLAT,
    "headsplat.render.projection.project_gaussians": _GSPLAT,
}
# Methods of torch.autograd.Function subclasses, wherever they are: torch passes the arguments of
# ``.apply`` to them positionally.
AUTOGRAD_METHODS = {"forward", "backward", "setup_context", "jvp", "vmap"}


def _is_bool(annotation: ast.expr | None) -> bool:
    """``bool``, or an optional / union of it (also as a string annotation)."""
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return _is_bool(ast.parse(annotation.value, mode="eval").body)
    if isinstance(annotation, ast.Name):
        return annotation.id == "bool"
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _is_bool(annotation.left) or _is_bool(annotation.right)
    if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value).split(".")[-1] in (
        "Optional",
        "Union",
    ):
        inner = annotation.slice
        members = inner.elts if isinstance(inner, ast.Tuple) else [inner]
        return any(_is_bool(member) for member in members)
    return False


def _dotted(node: ast.expr) -> str:
    return ast.unparse(node)


def _is_autograd_function(cls: ast.ClassDef) -> bool:
    return any(
        _dotted(base) in ("Function", "torch.autograd.Function", "autograd.Function") for base in cls.bases
    )


def _is_staticmethod(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(_dotted(decorator) == "staticmethod" for decorator in function.decorator_list)


def public_functions(tree: ast.Module):
    """(qualname, function node, enclosing class node or None) of each public function and method."""

    def visit(node: ast.AST, prefix: str, cls: ast.ClassDef | None):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if not child.name.startswith("_") or (cls is not None and child.name == "__init__"):
                    yield prefix + child.name, child, cls
            elif isinstance(child, ast.ClassDef):
                if not child.name.startswith("_"):
                    yield from visit(child, f"{prefix}{child.name}.", child)
            else:  # module-level if / try blocks
                yield from visit(child, prefix, cls)

    yield from visit(tree, "", None)


def problems(function: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None) -> list[str]:
    """What breaks the rule in ``function``'s signature (empty: nothing)."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults, strict=True))
    if cls is not None and not _is_staticmethod(function) and pairs:
        pairs = pairs[1:]  # self / cls
    found = []
    if len(pairs) > MAX_POSITIONAL:
        names = ", ".join(arg.arg for arg, _ in pairs)
        found.append(f"{len(pairs)} positional parameters ({names}); at most {MAX_POSITIONAL} before the '*'")
    flags = [
        arg.arg
        for arg, default in pairs
        if _is_bool(arg.annotation) or (isinstance(default, ast.Constant) and isinstance(default.value, bool))
    ]
    if flags:
        found.append(f"boolean parameter(s) {', '.join(flags)} not keyword-only")
    return found


def modules() -> list[tuple[Path, str]]:
    """(path, dotted module name) of every module of the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)))
    return found


def check(tree: ast.Module, file: str, module: str, relative: str, used: set[str]) -> list[str]:
    """The violations in one module as "file:line module.qualname: what"; the EXEMPT keys that
    excused one go into ``used``."""
    found = []
    for qualname, function, cls in public_functions(tree):
        name = f"{module}.{qualname}"
        what = problems(function, cls)
        if not what:
            continue
        if relative in EXEMPT or name in EXEMPT:
            used.add(relative if relative in EXEMPT else name)
            continue
        if cls is not None and _is_autograd_function(cls) and function.name in AUTOGRAD_METHODS:
            continue
        found.extend(f"{file}:{function.lineno} {name}: {problem}" for problem in what)
    return found


def violations() -> tuple[list[str], set[str]]:
    """Each violation in the package, and the EXEMPT keys that matched."""
    found, used = [], set()
    for path, module in modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(PACKAGE).as_posix()
        found += check(tree, path.relative_to(ROOT).as_posix(), module, relative, used)
    return found, used


def test_public_functions_take_booleans_and_options_by_keyword():
    found, _ = violations()
    assert not found, (
        "public functions with more than four positional parameters or a positional boolean "
        "(add a '*' and pass them by keyword at the call sites, or list the function in EXEMPT "
        "with the reason):\n" + "\n".join(found)
    )


def test_every_exemption_is_still_needed():
    _, used = violations()
    stale = sorted(set(EXEMPT) - used)
    assert not stale, f"EXEMPT entries that no longer name a function breaking the rule: {stale}"


def test_the_checker_sees_what_it_should():
    source = """
def ok(a, b, c, d, *, e=1, flag: bool = False): ...
def five(a, b, c, d, e): ...
def flag(a, on: bool | None = None): ...
def literal(a, on=True): ...
def _private(a, b, c, d, e, on: bool = True): ...
def outer(a):
    def inner(a, b, c, d, e, on: bool = True): ...
class Thing:
    def method(self, a, b, c, d): ...
    @staticmethod
    def static(a, b, c, d, e): ...
    def __init__(self, a, b, c, d, e): ...
    def __call__(self, a, b, c, d, e): ...
class _Hidden:
    def method(self, a, b, c, d, e): ...
class Fn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, c, d, e): ...
"""
    found = check(ast.parse(source), "toy.py", "toy", "toy.py", set())
    assert sorted(line.split()[1].removesuffix(":") for line in found) == [
        "toy.Thing.__init__",
        "toy.Thing.static",
        "toy.five",
        "toy.flag",
        "toy.literal",
    ], found
    assert found[0].startswith("toy.py:3 toy.five: 5 positional parameters (a, b, c, d, e)")
