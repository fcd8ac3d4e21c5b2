"""BCE adapters: one module per framework, each public BCE API behind one interface.

Design constraints (read before adding one): frameworks may be absent, heavy, or broken on
import, so no module here imports a framework at import time; an adapter imports it inside
its methods, and ``Adapter.available()`` answers with ``importlib.util.find_spec`` only.
The interface is in ``adapters/base.py``; discovery (built-ins, entry points,
``module:object``) in ``adapters/registry.py``; ``bce_adapter`` (``adapters/function.py``)
makes a plain function an adapter.
"""

from adapters.function import bce_adapter

__all__ = ["bce_adapter"]
