"""Checks of a model folder's files before transformers reads them.

transformers and safetensors meet a damaged file (a download cut short, an empty
`config.json`, a `pytorch_model.bin` that is an HTML error page) with a traceback from
deep inside their readers, naming neither the file nor the fix. These checks look at each
file the way its reader will (JSON object, safetensors header and data extent, zip or
pickle signature) and raise a `JarobertaError` that names the file and what is wrong.
"""

from __future__ import annotations

import io
import json
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig

from jaroberta.errors import JarobertaError

FETCH_AGAIN = "copy or download it again"

# Exceptions transformers lets out of `from_pretrained` for a bad file or a config that does
# not describe the weights (OSError: missing/unreadable; ValueError/TypeError: bad values;
# KeyError/AttributeError: fields missing or of the wrong kind; RuntimeError: shape mismatch,
# damaged zip; EOFError/pickle errors: truncated pickle).
LOAD_ERRORS = (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError, EOFError, pickle.UnpicklingError,
               zipfile.BadZipFile, struct.error)


def read_json_object(path: Path, what: str = "") -> dict:
    """The JSON object in `path` ({} when the file is absent); a clear error when it is damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise JarobertaError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        raise JarobertaError(f"{path} is empty{what}; {FETCH_AGAIN}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JarobertaError(f"{path} is not valid JSON ({exc}): truncated or damaged{what}; {FETCH_AGAIN}") from exc
    if not isinstance(data, dict):
        raise JarobertaError(f"{path} holds a JSON {type(data).__name__}, not an object{what}; {FETCH_AGAIN}")
    return data


def check_config(folder: Path) -> None:
    """config.json parses as a transformers config (known model_type, typed fields)."""
    path = folder / "config.json"
    data = read_json_object(path)
    if "model_type" not in data:
        raise JarobertaError(f"{path} has no model_type: not a transformers config.json, or damaged; {FETCH_AGAIN}")
    try:
        AutoConfig.from_pretrained(folder)
    except (*LOAD_ERRORS, StrictDataclassError) as exc:
        raise JarobertaError(f"{path} is not a usable transformers config: {_first_line(exc)}") from exc


def check_weights(path: Path) -> None:
    """The weights file (or every shard of an index) is complete by its own format's rules."""
    if path.is_dir():
        raise JarobertaError(f"{path} is a folder, not a weights file")
    if path.name.endswith(".index.json"):
        index = read_json_object(path)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise JarobertaError(f"{path} has no weight_map: damaged index; {FETCH_AGAIN}")
        for shard in sorted(set(map(str, weight_map.values()))):
            shard_path = path.parent / shard
            if not shard_path.is_file():
                raise JarobertaError(f"{shard_path} is missing (named by {path.name}); {FETCH_AGAIN}")
            check_weights(shard_path)
    elif path.suffix == ".safetensors":
        _check_safetensors(path)
    else:
        _check_torch_file(path)


def _check_safetensors(path: Path) -> None:
    """Header length, JSON header, and tensors ending inside the file (a cut download does not)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise JarobertaError(f"{path} is {'empty' if size == 0 else f'only {size} bytes'}: not a safetensors file; {FETCH_AGAIN}")
        (header_size,) = struct.unpack("<Q", head)
        if header_size > size - 8:
            raise JarobertaError(f"{path} is truncated or not a safetensors file (its header claims {header_size:,} bytes, "
                                 f"the file has {size:,}); {FETCH_AGAIN}")
        try:
            header = json.loads(handle.read(header_size))
        except (ValueError, UnicodeDecodeError) as exc:
            raise JarobertaError(f"{path}: the safetensors header is damaged ({exc}); {FETCH_AGAIN}") from exc
    if not isinstance(header, dict):
        raise JarobertaError(f"{path}: the safetensors header is damaged (not a JSON object); {FETCH_AGAIN}")
    end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)
               and isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2), default=0)
    if 8 + header_size + end > size:
        raise JarobertaError(f"{path} is truncated: its tensors need {8 + header_size + end:,} bytes, the file has {size:,}; "
                             f"{FETCH_AGAIN}")


def _check_torch_file(path: Path) -> None:
    """torch.save writes a zip archive (legacy: a pickle); anything else is not a checkpoint."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise JarobertaError(f"{path} is empty; {FETCH_AGAIN}")
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                pickled = [name for name in archive.namelist() if name.endswith("data.pkl")]
                data = archive.read(pickled[0]) if pickled else b""
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise JarobertaError(f"{path} is a damaged or truncated PyTorch checkpoint ({exc}); {FETCH_AGAIN}") from exc
        _check_pickle_names(path, data, pickles=1)
    elif head[:1] != b"\x80":  # a pickle starts with its protocol opcode
        raise JarobertaError(f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle; an error page "
                             f"saved as the file?); {FETCH_AGAIN}")
    else:
        with path.open("rb") as handle:
            # The legacy format: magic number, protocol, system info, then the object's pickle.
            _check_pickle_names(path, handle.read(1 << 22), pickles=4)


def _safe_global(module: str, name: str) -> bool:
    """What a checkpoint of tensors names: torch's own rebuild functions and types, an OrderedDict."""
    return (
        module == "torch" or module.startswith("torch.")
        or (module, name) in {("collections", "OrderedDict"), ("_codecs", "encode")}
        or (module in ("builtins", "__builtin__") and name in {"set", "frozenset", "bytearray", "slice", "complex"})
    )


def _check_pickle_names(path: Path, data: bytes, pickles: int) -> None:
    """Refuse a checkpoint whose pickle names anything but tensors' classes and functions, by
    reading its opcodes (nothing is unpickled), before torch loads it: torch's weights-only
    unpickler refuses it too, but after its own multi-line warning and advice to run the code."""
    stream = io.BytesIO(data)
    for _ in range(pickles):
        strings: list[str] = []
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    strings.append(arg)
                elif opcode.name in ("GLOBAL", "INST"):
                    module, _, name = str(arg).partition(" ")
                    _refuse_unsafe(path, module, name)
                elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                    _refuse_unsafe(path, strings[-2], strings[-1])
                elif opcode.name not in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
                    strings.clear()
        except (ValueError, EOFError):
            return  # not a pickle past this point (the legacy format's raw storages): torch judges the rest


def _refuse_unsafe(path: Path, module: str, name: str) -> None:
    if not _safe_global(module, name):
        raise JarobertaError(
            f"{path}: refused, the pickle holds more than tensors (it calls {module}.{name}) and weights-only loading "
            f"never runs code from a checkpoint; get the model as model.safetensors from a source you trust"
        )


def load_error(path: Path, exc: Exception) -> JarobertaError:
    """A transformers loading failure, said in one line that names the file."""
    message = _first_line(exc)
    if "ignore_mismatched_sizes" in str(exc) or "size mismatch" in str(exc):
        message = "the weights' shapes do not match config.json (another model's config, or an edited one)"
    return JarobertaError(f"cannot load the weights in {path}: {message}")


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [exc.__class__.__name__]
    return " ".join(lines[:2])[:300]
