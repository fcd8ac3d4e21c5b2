"""Read a case file's YAML (and the known-bug registry's) safely and within bounds, keeping
line numbers for messages.

A case file comes from anyone, so reading it must end quickly with bounded memory whatever
it holds:

- the file is refused above ``MAX_FILE_BYTES`` before it is read, and must be UTF-8 text
  (a binary file or another encoding gets the line and column of the first bad byte);
- only YAML's safe tags are constructed (``yaml.SafeLoader``'s constructors: no
  ``!!python/...`` objects);
- the node tree is composed by libyaml (PyYAML's ``CSafeLoader``, about 4 times faster
  than the pure-Python composer; the pure-Python one where PyYAML was built without
  libyaml), which keeps aliases as references to one node: nothing is expanded;
- aliases are counted *after composing and before anything is built*: each node's
  expanded size (a scalar 1, a collection 1 plus its children's, an alias the size of what
  it names) is summed bottom-up over the distinct nodes, in time linear in the file's
  length, so an alias bomb whose expansion exceeds ``MAX_EXPANDED_NODES`` is refused at
  the first node that crosses the budget. A recursive alias (a cycle) is refused too.

``read`` returns the document and its node tree, so ``line_of`` can name the line of any
field a later check (the schema, the semantics) finds wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 2 * 1024 * 1024
"""2 MiB: 500 times the largest shipped case file, room for ~200,000 literal numbers;
larger data belongs in a generator or an .npy data file."""
MAX_EXPANDED_NODES = 1_000_000
"""Values (scalars and collections) the document may hold once its aliases are expanded:
the most a file within MAX_FILE_BYTES can spell out, so aliases add convenience, not size."""


class CaseYamlError(ValueError):
    """The file cannot be read as a bounded YAML document; ``line`` where known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    root: yaml.Node | None


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_expansion(root: yaml.Node) -> None:
    """CaseYamlError if the aliases expand ``root`` beyond MAX_EXPANDED_NODES values, or
    if a collection contains itself; iterative, so deep nesting costs no recursion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            children = _children(node)
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > MAX_EXPANDED_NODES:
                raise CaseYamlError(
                    f"YAML aliases expand this document beyond {MAX_EXPANDED_NODES:,} values "
                    f"(at least {size:,} by this node); spell the values out or use a "
                    "generator",
                    node.start_mark.line + 1,
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise CaseYamlError(
                "recursive YAML alias (it names its own ancestor)", node.start_mark.line + 1
            )
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise CaseYamlError(
                    "recursive YAML alias (it names its own ancestor)",
                    child.start_mark.line + 1,
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read(path: Path) -> YamlDocument:
    """The YAML file at ``path``, parsed within the bounds above; CaseYamlError if not."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise CaseYamlError(
                f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a YAML file"
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise CaseYamlError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CaseYamlError(f"file is over the {MAX_FILE_BYTES:,}-byte limit for a YAML file")
    text = _decode(raw)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expansion(root)
        data = loader.construct_document(root) if root is not None else None
    except CaseYamlError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CaseYamlError(
            f"YAML syntax error{where}: {problem}", mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise CaseYamlError("YAML nested too deeply to read") from None
    finally:
        loader.dispose()
    return YamlDocument(data, root)


def _decode(raw: bytes) -> str:
    if b"\0" in raw:
        line = raw[: raw.index(b"\0")].count(b"\n") + 1
        raise CaseYamlError("binary content (a NUL byte), not a YAML text file", line)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise CaseYamlError(
            f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column {column} "
            "(save the file as UTF-8)",
            line,
        ) from None


def line_of(root: yaml.Node | None, path: list[Any]) -> int | None:
    """The 1-based line of the node at ``path`` (mapping keys and sequence indices), or of
    the deepest node on the way there that exists."""
    node, line = root, None
    for part in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        node = _child(node, part)
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None
