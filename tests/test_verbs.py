"""The Python verbs stay what `jaroberta.__all__` promises, whatever was imported before:
no subpackage shadows a verb (importing `jaroberta.X` sets the attribute X on the package)."""

from __future__ import annotations

import subprocess
import sys

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
    assert verb is getattr(api, name), f'jaroberta.{name} is {verb!r}, not the verb'
    assert callable(verb), name
text = pydoc.render_doc(jaroberta)
missing = [n for n in jaroberta.__all__ if n != '__version__' and n not in text]
assert not missing, f'help(jaroberta) omits {missing}'
"""


def test_every_verb_is_the_verb_after_every_module_was_imported():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
