"""Policy evaluation: values in, a ``Decision`` out.

``Policies`` holds one loaded, validated set. ``authorize`` asks Cedar about the attended and
the unattended action in one batch and combines the answers (``decision.combine``). Two
caches keep a call cheap: the Cedar entities of each (principal, resource) pair, and a
*slice* of the policy set per (principal, resource, action family) holding only the policies
whose scope can match it. Cedar evaluates every policy it is given, so with 100 policies the
slice is what keeps a decision near 0.05 ms. Slicing is exact: a policy is left out only when
its scope (``principal == / in``, ``action == / in``, ``resource == / in``) cannot match, since
tether builds the Agent, Tool and Model entities and knows their ancestors. A third cache holds
the decisions themselves, keyed on what of the context the slice's policies read
(``tether.governance.recall``): a request that repeats one of those is not asked again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cedarpy

from tether.governance.decision import Answer, Decision, combine
from tether.governance.facts import Principal, principal_entities, stub_entities
from tether.governance.recall import context_key, context_reads

_CACHE_LIMIT = 1024

Uid = tuple[str, str]
Slice = tuple[cedarpy.PolicySet, frozenset[str] | None]  # the policies, the context they read


@dataclass(frozen=True, kw_only=True)
class Resource:
    """A tool or model as Cedar sees it; build once per contract or model and reuse."""

    kind: str  # "Tool" | "Model"
    ident: str
    entity_json: str

    @classmethod
    def of(cls, entity: Mapping[str, Any]) -> Resource:
        return cls(
            kind=entity["uid"]["type"], ident=entity["uid"]["id"], entity_json=json.dumps(entity)
        )

    @property
    def text(self) -> str:
        return f"{self.kind}::{json.dumps(self.ident)}"


class Policies:
    """One loaded policy set: the policies (as Cedar JSON), the schema, the file's entities."""

    def __init__(
        self,
        *,
        policies: Mapping[str, dict[str, Any]],
        schema: cedarpy.Schema,
        entities: Sequence[dict[str, Any]],
        version: str,
    ) -> None:
        self.policies = dict(policies)
        self.schema = schema
        self.version = version
        self.reasons_text = {
            pid: str(p["annotations"]["reason"])
            for pid, p in self.policies.items()
            if "reason" in p.get("annotations", {})
        }
        self._base = cedarpy.Entities.from_json_str(json.dumps(list(entities)), schema)
        self._known: set[Uid] = {(e["uid"]["type"], e["uid"]["id"]) for e in entities}
        self._parents: dict[Uid, list[Uid]] = {
            (e["uid"]["type"], e["uid"]["id"]): [(u["type"], u["id"]) for u in e.get("parents", [])]
            for e in entities
        }
        self._entities: dict[tuple[Principal, str], cedarpy.Entities] = {}
        self._slices: dict[tuple[Principal, Uid, tuple[str, ...]], Slice] = {}
        self._all: Slice | None = None
        self._decisions: dict[tuple[Principal, str, tuple[str, str], bool, str], Decision] = {}

    def __len__(self) -> int:
        return len(self.policies)

    def authorize(
        self,
        principal: Principal,
        resource: Resource,
        family: tuple[str, str],
        context: Mapping[str, Any],
        *,
        sliced: bool = True,
    ) -> Decision:
        """Decide one call. ``family`` is (attended action, unattended action)."""
        policy_set, reads = self._slice(principal, resource, family) if sliced else self._full()
        key = (principal, resource.entity_json, family, sliced, context_key(reads, context))
        known = self._decisions.get(key)
        if known is None:
            known = self._ask(principal, resource, family, context, policy_set)
            _remember(self._decisions, key, known)
        return known

    def _ask(
        self,
        principal: Principal,
        resource: Resource,
        family: tuple[str, str],
        context: Mapping[str, Any],
        policy_set: cedarpy.PolicySet,
    ) -> Decision:
        entities = self._entities_for(principal, resource)
        p, r = (
            {"type": "Agent", "id": principal.agent},
            {"type": resource.kind, "id": resource.ident},
        )
        requests = [
            {
                "principal": p,
                "action": {"type": "Action", "id": a},
                "resource": r,
                "context": context,
            }
            for a in family
        ]
        attended, unattended = (
            _answer(x)
            for x in cedarpy.is_authorized_batch(requests, policy_set, entities, self.schema)
        )
        return combine(
            attended,
            unattended,
            action=family[0],
            principal=principal.uid,
            resource=resource.text,
            reasons_text=self.reasons_text,
        )

    def _entities_for(self, principal: Principal, resource: Resource) -> cedarpy.Entities:
        key = (principal, resource.entity_json)
        handle = self._entities.get(key)
        if handle is None:
            delta = [*principal_entities(principal), *stub_entities(principal, self._known)]
            text = json.dumps(delta)[:-1] + "," + resource.entity_json + "]"
            handle = self._base.with_added_json_str(text, self.schema)
            _remember(self._entities, key, handle)
        return handle

    def _full(self) -> Slice:
        if self._all is None:
            self._all = self._slice_of(list(self.policies))
        return self._all

    def _slice(self, principal: Principal, resource: Resource, family: tuple[str, str]) -> Slice:
        key = (principal, (resource.kind, resource.ident), family)
        found = self._slices.get(key)
        if found is None:
            ancestors = self._ancestors(principal)
            agent = ("Agent", principal.agent)
            target = (resource.kind, resource.ident)
            kept = [
                pid
                for pid, p in self.policies.items()
                if _principal_may_match(p["principal"], agent, ancestors)
                and _action_may_match(p["action"], family)
                and _resource_may_match(p["resource"], target)
            ]
            found = self._slice_of(kept)
            _remember(self._slices, key, found)
        return found

    def _slice_of(self, ids: Sequence[str]) -> Slice:
        body = {
            "staticPolicies": {pid: self.policies[pid] for pid in ids},
            "templates": {},
            "templateLinks": [],
        }
        reads = context_reads(self.policies[pid] for pid in ids)
        return cedarpy.PolicySet.from_json_str(json.dumps(body)), reads

    def _ancestors(self, principal: Principal) -> set[Uid]:
        """The principal's type and every entity it is ``in`` (itself, its tenant, the
        tenant's ancestors from the entities file)."""
        found: set[Uid] = {("Agent", principal.agent)}
        todo: list[Uid] = [("Tenant", principal.tenant)]
        while todo:
            uid = todo.pop()
            if uid not in found:
                found.add(uid)
                todo.extend(self._parents.get(uid, ()))
        return found


def _answer(result: cedarpy.AuthzResult) -> Answer:
    d = result.diagnostics
    # sorted: Cedar reports the deciding policies in no stable order
    return Answer(allowed=result.allowed, policies=tuple(sorted(d.reasons)), errors=tuple(d.errors))


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _entity(ref: Mapping[str, Any]) -> Uid:
    return (str(ref["type"]), str(ref["id"]))


def _principal_may_match(scope: Mapping[str, Any], agent: Uid, ancestors: set[Uid]) -> bool:
    op = scope.get("op")
    if op == "==":
        return _entity(scope["entity"]) == agent
    if op == "in" and "entity" in scope:
        return _entity(scope["entity"]) in ancestors
    if op == "is":
        inside = scope.get("in")
        type_ok = scope.get("entity_type") == agent[0]
        return type_ok and (inside is None or _entity(inside["entity"]) in ancestors)
    return True  # All, or a form tether does not slice on


def _action_may_match(scope: Mapping[str, Any], family: tuple[str, ...]) -> bool:
    op = scope.get("op")
    if op == "==" or (op == "in" and "entity" in scope):
        return str(scope["entity"]["id"]) in family
    if op == "in" and "entities" in scope:
        return any(str(e["id"]) in family for e in scope["entities"])
    return True  # tether's schema has no action groups, so `in` is membership


def _resource_may_match(scope: Mapping[str, Any], target: Uid) -> bool:
    op = scope.get("op")
    if op in ("==", "in") and "entity" in scope:
        return _entity(scope["entity"]) == target  # tools and models have no parents
    if op == "is":
        inside = scope.get("in")
        return scope.get("entity_type") == target[0] and (
            inside is None or _entity(inside["entity"]) == target
        )
    return True
