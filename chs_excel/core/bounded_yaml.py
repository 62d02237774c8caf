"""YAML read with bounds: a model file cannot exhaust memory, the stack or patience.

PyYAML's safe loader still accepts a 600-byte "billion laughs" (aliases of aliases that
expand to billions of nodes when walked), nesting deep enough to overflow Python's stack,
and duplicate keys (the last one silently wins). `load_yaml` refuses each with one line
naming the file and line: at most MAX_BYTES of text, MAX_DEPTH levels of nesting,
MAX_NODES nodes with every alias expanded, and no key twice in one mapping.
"""

from __future__ import annotations

from typing import Any

import yaml

from chs_excel.core.errors import ModelError

MAX_BYTES = 1_000_000   # a large model is about 20 KB
MAX_DEPTH = 64          # a model nests 5 levels deep
MAX_NODES = 200_000     # nodes, aliases expanded (the default model has about 600)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts nesting while composing and refuses duplicate keys."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", self.peek_event())
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise _Refused(f"key {str(key)[:60]!r} appears twice in one mapping",
                                   key_node)
                seen.add(key)
        return super().construct_mapping(node, deep)


class _Refused(Exception):
    def __init__(self, problem: str, where: Any) -> None:
        super().__init__(problem)
        mark = getattr(where, "start_mark", None)
        self.line = f" line {mark.line + 1}:" if mark is not None else ""


def _expanded_size(node: yaml.Node) -> int:
    """Nodes in `node` with every alias expanded, computed once per shared node."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        if id(current) in sizes:
            continue
        children: list[yaml.Node] = []
        if isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if done or not children:
            sizes[id(current)] = 1 + sum(sizes.get(id(c), 0) for c in children)
            if sizes[id(current)] > MAX_NODES:
                return sizes[id(current)]
            continue
        stack.append((current, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(node)]


def load_yaml(text: str, where: str) -> Any:
    """The YAML document in `text` (from `where`, named in errors), within the bounds."""
    if len(text) > MAX_BYTES:
        raise ModelError(f"{where}: the file is {len(text):,} characters; a model file is "
                         f"at most {MAX_BYTES:,}")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise _Refused(f"its aliases expand to more than {MAX_NODES:,} values", node)
        return loader.construct_document(node)
    except _Refused as exc:
        raise ModelError(f"{where}:{exc.line} YAML refused: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ModelError(f"{where}:{line} YAML syntax error: {problem}") from None
    finally:
        loader.dispose()
