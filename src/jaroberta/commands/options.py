"""The flags of every command, spelled and explained once (README's "Flags" table).

`add_config` makes a command's flags from its typed config: one flag per dataclass field,
named after the field (`max_length` -> `--max-length`), its docstring as help, its default and
type from the source. The helpers below are the flags several commands share that are no
config field (a model to load, texts to read) and what every handler needs: reading texts,
printing JSON, `api()` (the library, imported when a command runs, not for its `--help`)."""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import importlib.util
import json
import logging
import operator
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jaroberta.core.hub import LICENSE_HELP, REVISION_HELP
from jaroberta.errors import JarobertaError

log = logging.getLogger(__name__)


def revision(p) -> None:
    p.add_argument("--revision", metavar="REV", help=REVISION_HELP)


def license(p) -> None:
    p.add_argument("--license", metavar="ID", help=LICENSE_HELP)


def device(p, where: str = "") -> None:
    p.add_argument("--device", default="auto",
                   help=f"auto, cpu or cuda; auto = cuda when available, else cpu{where} (default: auto)")


def overwrite(p, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace {what} an earlier run wrote into OUT; files it did not write are kept")


def no_progress(p) -> None:
    p.add_argument("--no-progress", action="store_true", help="do not show progress bars")


def as_json(p, what: str = "print the result as one JSON object") -> None:
    p.add_argument("--json", action="store_true", help=what)


def seed(p, of: str, default: str | int = 42) -> None:
    p.add_argument("--seed", type=int, default=None if isinstance(default, str) else default,
                   help=f"seed of {of} (default: {default})")


def user_dict(p, help: str = "MeCab user dictionary (.dic) the tokenizer needs, matched by file name; overrides the "
              "absolute path in JMedRoBERTa's tokenizer_config.json; repeat for several") -> None:
    p.add_argument("--user-dict", type=Path, action="append", default=[], metavar="PATH", help=help)


def convention(p) -> None:
    p.add_argument("--convention", action="append", default=[], metavar="KEY=VALUE",
                   help="override an input convention, e.g. name=rinna, max_length=256, explicit_position_ids=false, "
                        "suffix=[SEP], normalization=nfkc+lowercase; repeat for several")


def int8(p) -> None:
    p.add_argument("--int8", action="store_true",
                   help="dynamic int8 quantization of the linear layers: faster on CPU, slightly less accurate")


def texts(p, what: str = "texts") -> None:
    p.add_argument("text", nargs="*", metavar="TEXT", help=f"{what} (or use --input)")
    p.add_argument("--input", metavar="FILE", help="read texts from FILE, one per line ('-' = stdin)")


def read_texts(texts: list[str], input_file: str | Path | None) -> list[str]:
    """Texts from the command line and/or a file (one per line, '-' = stdin); blank lines are skipped and counted."""
    texts = list(texts or [])
    if input_file is not None:
        path = Path(input_file)
        if str(input_file) == "-":
            lines = sys.stdin.read().splitlines()
        else:
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError as exc:
                raise JarobertaError(f"input file {path} does not exist") from exc
            except UnicodeDecodeError as exc:
                raise JarobertaError(f"{path}: not UTF-8 text (byte {exc.start}); convert it to UTF-8") from exc
            except OSError as exc:
                raise JarobertaError(f"cannot read --input {path}: {exc}") from exc
        blank = sum(1 for line in lines if not line.strip())
        if blank:
            log.info("%s: skipped %d blank line(s)", input_file, blank)
        texts.extend(line for line in lines if line.strip())
    if not texts:
        raise JarobertaError("no text given: pass TEXT arguments or --input FILE (one text per line, '-' = stdin)")
    return texts


def print_json(data) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


# -- flags generated from the typed configs ----------------------------------------------------------
MISSING = object()
"""The default of a required field (a positional argument, or a required flag)."""


@dataclass(frozen=True)
class ConfigField:
    """One field of a config dataclass as its source states it: read with `ast`, so a config in a
    module that imports torch gives its flags without importing it (`--help` stays fast)."""

    name: str
    annotation: ast.expr
    default: object
    """The default value, or MISSING."""
    doc: str
    """The field's docstring, on one line."""


def _module_file(module: str) -> Path:
    """The source file of `jaroberta.x.y`, found without importing `jaroberta.x` (whose
    `__init__` may import torch: finding a submodule's spec would run it)."""
    top, *parts = module.split(".")
    folder = Path(importlib.util.find_spec(top).origin).parent.joinpath(*parts)
    for path in (folder / "__init__.py", folder.with_suffix(".py")):
        if path.is_file():
            return path
    raise JarobertaError(f"no module {module}")


@functools.cache
def _source(module: str) -> tuple[dict, dict, dict]:
    """A module read, not imported: its classes, its top-level constants (name -> value node)
    and what it imports by name (name -> module)."""
    tree = ast.parse(_module_file(module).read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            constants.update({t.id: node.value for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            constants[node.target.id] = node.value
    imports = {alias.asname or alias.name: node.module for node in tree.body
               if isinstance(node, ast.ImportFrom) and node.module and not node.level for alias in node.names}
    return classes, constants, imports


@functools.cache
def config_fields(config: str) -> tuple[ConfigField, ...]:
    """The fields of the dataclass `config` ('module:Class'), base classes of the same module
    first, as its source declares them."""
    module, _, name = config.partition(":")
    return tuple(_class_fields(module, name))


def _class_fields(module: str, name: str) -> list[ConfigField]:
    classes, _, _ = _source(module)
    node = classes[name]
    found = [f for base in node.bases if isinstance(base, ast.Name) and base.id in classes
             for f in _class_fields(module, base.id)]
    body = node.body
    for i, statement in enumerate(body):
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        follows = body[i + 1] if i + 1 < len(body) else None
        doc = follows.value.value if (isinstance(follows, ast.Expr) and isinstance(follows.value, ast.Constant)
                                      and isinstance(follows.value.value, str)) else ""
        default = MISSING if statement.value is None else _value(statement.value, module)
        found = [f for f in found if f.name != statement.target.id]
        found.append(ConfigField(statement.target.id, statement.annotation, default, " ".join(doc.split())))
    return found


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.LShift: operator.lshift,
              ast.Div: operator.truediv}


def _value(node: ast.expr, module: str):
    """A value as `module`'s source writes it: literals, arithmetic, constants (its own or
    imported by name), Path(...), field(default=...) and field(default_factory=tuple/list/dict);
    anything else is MISSING."""
    _, constants, imports = _source(module)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value(e, module) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand, module)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_value(node.left, module), _value(node.right, module))
    if isinstance(node, ast.Name) and node.id in constants:
        return _value(constants[node.id], module)
    if isinstance(node, ast.Name) and node.id in imports and imports[node.id].startswith("jaroberta."):
        return _value(ast.Name(node.id), imports[node.id])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "Path" and len(node.args) == 1:
            return Path(_value(node.args[0], module))
        if node.func.id == "field":
            keywords = {k.arg: k.value for k in node.keywords}
            if "default" in keywords:
                return _value(keywords["default"], module)
            factory = keywords.get("default_factory")
            if isinstance(factory, ast.Name) and factory.id in ("tuple", "list", "dict"):
                return {"tuple": (), "list": (), "dict": {}}[factory.id]
    return MISSING


_TYPES = {"int": int, "float": float, "str": str, "Path": Path}


def _argument(field: ConfigField) -> dict:
    """argparse keywords for a field from its annotation: int, float, str, Path (each maybe
    `| None`), bool, Literal[...] (choices) and tuple[str, ...] / tuple[Path, ...] (repeatable)."""
    annotation = field.annotation
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):  # X | None
        annotation = annotation.left if _is_none(annotation.right) else annotation.right
    if isinstance(annotation, ast.Name) and annotation.id == "bool":
        if field.default is False:
            return {"action": "store_true"}
        return {"action": argparse.BooleanOptionalAction}
    if isinstance(annotation, ast.Name) and annotation.id in _TYPES:
        return {"type": _TYPES[annotation.id]}
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name):
        if annotation.value.id == "Literal":
            choices = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
            return {"choices": [c.value for c in choices]}
        if annotation.value.id == "tuple" and isinstance(annotation.slice, ast.Tuple):
            item, ellipsis = annotation.slice.elts
            if isinstance(item, ast.Name) and item.id in _TYPES and isinstance(ellipsis, ast.Constant):
                return {"type": _TYPES[item.id], "action": "append"}
    raise TypeError(f"field {field.name}: no flag for the annotation {ast.unparse(field.annotation)}; "
                    "give its argparse keywords in `flags`")


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def flag(name: str) -> str:
    """The flag of an API field: its name with dashes (`max_length` -> `--max-length`)."""
    return "--" + name.replace("_", "-")


def add_config(parser, config: str, *, skip: Iterable[str] = (), flags: dict[str, dict] | None = None,
               positional: Iterable[str] = ()) -> None:
    """Add one flag per field of the dataclass `config` ('module:Class'): the field's name as
    `flag`, its docstring as help, its default, a type or action from its annotation.
    `skip`: fields the command sets itself; `positional`: fields that are positional arguments;
    `flags`: per field, argparse keywords that replace the generated ones ('flag' renames it)."""
    flags = flags or {}
    positional = tuple(positional)
    added = []
    for field in config_fields(config):
        if field.name in skip:
            continue
        added.append(field.name)
        if field.name == "progress":  # every long command spells it the same way
            no_progress(parser)
            continue
        keywords = dict(flags.get(field.name) or _argument(field))
        name = keywords.pop("flag", flag(field.name))
        default = () if keywords.get("action") == "append" and field.default is MISSING else field.default
        keywords.setdefault("help", _help(field.doc) + _shown(keywords.get("default", default), field.doc))
        if "type" in keywords and "choices" not in keywords:
            keywords.setdefault("metavar", name.lstrip("-").replace("-", "_").upper())
        if field.name in positional:
            keywords.setdefault("metavar", field.name.upper())
            if default is not MISSING:  # an optional positional
                keywords.setdefault("nargs", "?")
                keywords.setdefault("default", default)
            parser.add_argument(field.name, **keywords)
            continue
        if default is MISSING:
            keywords["required"] = True
        else:
            keywords.setdefault("default", list(default) if keywords.get("action") == "append" else default)
        parser.add_argument(name, dest=field.name, **keywords)
    parser.set_defaults(config_fields={**(parser.get_default("config_fields") or {}), config: tuple(added)})


def _help(doc: str) -> str:
    """A field's docstring as a flag's help: lower case, no final period, "None = X" as
    "default: X", and % escaped for argparse."""
    text = re.sub(r"\bNone (=|:) ", "default: ", doc.rstrip("."))
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower():  # "Peak" -> "peak"; "AdamW", "MeCab" stay
        text = text[0].lower() + text[1:]
    return text.replace("%", "%%")


def _shown(default, doc: str = "") -> str:
    """' (default: X)' where a default says something the docstring does not."""
    if default is MISSING or default is None or default is False or default == () or "default" in doc:
        return ""
    return f" (default: {default})"


def config_values(args: argparse.Namespace, config: str) -> dict:
    """The parsed values of the fields of `config` that `add_config` made flags for (repeated
    flags as tuples; `--no-progress` as `progress`)."""
    values = {}
    for name in args.config_fields[config]:
        value = (not args.no_progress) if name == "progress" else getattr(args, name)
        values[name] = tuple(value) if isinstance(value, list) else value
    return values


def library(module: str = "api"):
    """`jaroberta.<module>` (the verbs: `jaroberta.api`), imported when a handler runs: a command
    module imports no torch at its top, so that its `--help` stays fast."""
    return importlib.import_module(f"jaroberta.{module}")


def api():
    """`jaroberta.api`, the verbs every handler calls (see `library`)."""
    return library("api")


def keys(table: str) -> list[str]:
    """The names of a registry ('module:NAME', a dict literal at module top) read from its source,
    as choices of a flag without importing the module."""
    module, _, name = table.partition(":")
    node = _source(module)[1].get(name)
    if not isinstance(node, ast.Dict):
        raise JarobertaError(f"no dict {name} in {module}")
    return sorted(k.value for k in node.keys if isinstance(k, ast.Constant))


def registered(target: str) -> list[dict]:
    """The classes a registry tuple lists ('module:NAME', e.g. the fine-tuning kinds), each as the
    constants its class body states (name, summary, ...), read from the sources, not imported."""
    module, _, name = target.partition(":")
    _, constants, imports = _source(module)
    node = constants.get(name)
    if not isinstance(node, (ast.Tuple, ast.List)):
        raise JarobertaError(f"no tuple {name} in {module}")
    found = []
    for element in node.elts:
        home = imports.get(element.id, module) if isinstance(element, ast.Name) else module
        body = _source(home)[0][element.id].body
        found.append({t.id: _value(statement.value, home) for statement in body if isinstance(statement, ast.Assign)
                      for t in statement.targets if isinstance(t, ast.Name)})
    return found


def constant(target: str):
    """A constant ('module:NAME') read from its module's source, without importing it."""
    module, _, name = target.partition(":")
    return _value(ast.Name(name), module)


def group(subparsers, name: str, help: str, description: str | None = None):
    """A command made of actions (`jaroberta tokenizer train|encode|info`): returns the
    sub-parsers to add the actions to; the group alone prints its own help, with its actions."""
    parser = subparsers.add_parser(name, help=help, description=description or help)
    parser.set_defaults(group_help=parser.print_help)
    return parser.add_subparsers(dest=f"{name}_action", metavar="ACTION")


# -- a model to load: every command that runs one ---------------------------------------------------
def model_options(p, what: str = "model folder or Hugging Face hub id (e.g. rinna/japanese-roberta-base): saved by "
                  "jaroberta, or a checkpoint in rinna's or JMedRoBERTa's layout", batch: bool = True) -> None:
    p.add_argument("model", metavar="MODEL", help=what)
    revision(p)
    user_dict(p)
    convention(p)
    if batch:
        p.add_argument("--batch-size", type=int, default=32, help="inputs per forward pass (default: 32)")
    int8(p)
    device(p, "; cpu with --int8")


def truncate(p) -> None:
    p.add_argument("--truncate", action="store_true",
                   help="cut texts longer than the model's limit instead of stopping with an error")


def names(value: str) -> tuple[str, ...]:
    """A comma-separated list as a flag's value: 'a, b,c' -> ('a', 'b', 'c')."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


def load(args, head: str = "mlm"):
    """The model of `model_options`' flags, loaded by `jaroberta.load`."""
    return api().load(args.model, revision=args.revision, user_dict=args.user_dict, convention=args.convention,
                      device=args.device, int8=args.int8, head=head)
