"""The Python verbs stay what `jaroberta.__all__` promises, whatever was imported before:
no subpackage shadows a verb (importing `jaroberta.X` sets the attribute X on the package)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from layouts import rinna_dir  # noqa: F401  (module-scoped fixture)

CODE = """
import importlib, pkgutil, pydoc, jaroberta
modules = [m.name for m in pkgutil.walk_packages(jaroberta.__path__, 'jaroberta.') if m.name != 'jaroberta.__main__']
for name in modules:  # every module of the package, as a long session would have loaded them
    importlib.import_module(name)
import jaroberta.api as api
for name in jaroberta.__all__:
    if name == '__version__':
        continue
    verb = getattr(jaroberta, name)
    home = importlib.import_module(jaroberta._ABOVE_API.get(name, 'jaroberta.api'))  # adapt composes the api's verbs
    assert verb is getattr(home, name), f'jaroberta.{name} is {verb!r}, not the verb'
    assert callable(verb), name
text = pydoc.render_doc(jaroberta)
missing = [n for n in jaroberta.__all__ if n != '__version__' and n not in text]
assert not missing, f'help(jaroberta) omits {missing}'
"""


def test_every_verb_is_the_verb_after_every_module_was_imported():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_model_save_gives_back_the_same_model(rinna_dir, tmp_path):  # noqa: F811
    from jaroberta import api

    model = api.load(rinna_dir, device="cpu")
    saved = model.save(tmp_path / "copy")
    again = api.load(saved, device="cpu")
    text = "今日は[MASK]が良い。"
    first, second = model.fill_mask(text, top_k=3)[0], again.fill_mask(text, top_k=3)[0]
    assert [c.token for c in first.masks[0].candidates] == [c.token for c in second.masks[0].candidates]
    assert again.conventions == model.conventions


def test_verbs_take_the_config_fields_as_parameters():
    import inspect

    from jaroberta import api

    assert {"lr", "preset", "steps", "mask_rate"} <= set(inspect.signature(api.pretrain).parameters)
    assert {"max_length", "layout", "revision"} <= set(inspect.signature(api.pack).parameters)
    with pytest.raises(TypeError, match=r"pack\(\): got an unexpected keyword argument 'seq_len'"):
        api.pack("C", "T", "O", seq_len=64)
    assert list(inspect.signature(api.fill_mask).parameters)[:3] == ["model", "text", "top_k"]
