"""GraphQL as an engine call form: named operations in ``.graphql`` documents beside the definition.

::

    graphql:                          # optional section; these are the defaults
      endpoint: /graphql              # POSTed to (root + api + endpoint)
      documents: []                   # files relative to the definition's folder; default:
                                      #   defs/<slug>.graphql and defs/<slug>/*.graphql
    resources:
      ticket:
        get: {graphql: Issue, variables: {id: "{ticket_id}"}, item: data.issue}
        list:
          graphql: Issues             # the operation's name in the documents
          variables: {filter: {team: {key: {eq: "{team}"}}}}
          items: data.issues.nodes
          paginate: {type: relay, connection: data.issues, cursor: after, size: {param: first, value: 50}}

The documents are parsed with graphql-core at load (a syntax error, an anonymous or duplicate
operation, an unknown operation name or fragment is a ConfigError naming the file); each call
sends ``{"query": <its operation + the fragments it uses>, "operationName", "variables"}`` with the
variables filled like any template (a whole-value placeholder without a value drops its key).
Errors come from the body's ``errors`` through the definition's ``errors:`` rules (a definition
with GraphQL calls and no rule for ``errors`` gets ``{path: errors, code: extensions.code,
message: message}``). Queries are safe to repeat: a 5xx or a dropped connection is retried.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import GraphQLError, parse, print_ast
from graphql.language import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from pydantic import BaseModel, ConfigDict, Field

from deskhand.errors import ConfigError


class GraphQLSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str = Field("/graphql", pattern=r"^/")
    documents: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    kind: str  # query | mutation | subscription
    text: str  # the operation and every fragment it uses, printed

    def request(self, variables: dict[str, Any] | None) -> dict[str, Any]:
        return {"query": self.text, "operationName": self.name, "variables": variables or {}}


def document_paths(folder: Path, slug: str, spec: GraphQLSpec | None) -> list[Path]:
    """The definition's documents: those it lists, else ``<slug>.graphql`` and ``<slug>/*.graphql``."""
    if spec is not None and spec.documents:
        return [folder / name for name in spec.documents]
    return [p for p in [folder / f"{slug}.graphql", *sorted((folder / slug).glob("*.graphql"))] if p.is_file()]


def _spreads(selection_set: SelectionSetNode | None) -> Iterator[str]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FragmentSpreadNode):
            yield selection.name.value
        yield from _spreads(getattr(selection, "selection_set", None))


def _used(op: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode], where: str) -> list[str]:
    found: list[str] = []
    todo = list(_spreads(op.selection_set))
    while todo:
        name = todo.pop()
        if name in found:
            continue
        if name not in fragments:
            raise ConfigError(f"{where}: operation {op.name.value if op.name else '?'} uses unknown fragment {name!r}")
        found.append(name)
        todo.extend(_spreads(fragments[name].selection_set))
    return sorted(found)


def read_documents(paths: Iterable[Path]) -> dict[str, Operation]:
    """Every named operation of the documents, each printed with the fragments it uses."""
    operations: dict[str, tuple[OperationDefinitionNode, str]] = {}
    fragments: dict[str, FragmentDefinitionNode] = {}
    for path in paths:
        try:
            document = parse(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read GraphQL document: {exc}") from exc
        except GraphQLError as exc:
            raise ConfigError(f"{path}: not a valid GraphQL document: {exc.message} ({exc.locations})") from exc
        for node in document.definitions:
            if isinstance(node, FragmentDefinitionNode):
                if node.name.value in fragments:
                    raise ConfigError(f"{path}: fragment {node.name.value!r} is defined twice")
                fragments[node.name.value] = node
            elif isinstance(node, OperationDefinitionNode):
                if node.name is None:
                    raise ConfigError(f"{path}: every operation needs a name (calls name it: graphql: <Name>)")
                if node.name.value in operations:
                    raise ConfigError(f"{path}: operation {node.name.value!r} is defined twice")
                operations[node.name.value] = (node, str(path))
    out: dict[str, Operation] = {}
    for name, (node, where) in operations.items():
        used = [fragments[f] for f in _used(node, fragments, where)]
        text = print_ast(DocumentNode(definitions=(node, *used)))
        out[name] = Operation(name, node.operation.value, text)
    return out
