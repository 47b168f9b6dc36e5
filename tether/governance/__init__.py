"""Governance: policy decisions for every tool call and model call (DESIGN §2.8).

``loader`` reads and validates policy files (the I/O edge), ``engine`` decides (pure),
``facts`` and ``labels`` build what a decision is made on, ``gate`` wires decisions into the
run's tool and model steps and journals them. ``taint`` holds the prompt-injection facts,
``guardrails`` (with ``guard_hooks``) the per-agent input and output filters.

Operations: ``budget`` (pure budget arithmetic), ``preflight`` (the checks before each step:
kill switches, pause and cancel requests, operator instructions, budgets) and ``operator``
(the operator's commands: kill switches and instructions).

Approvals: ``approvals`` is the approval ladder's API (``terms``, ``requests``, ``ballot``
and ``approved`` are its parts).
"""

from tether.governance.approvals import Approvals, SweepReport
from tether.governance.decision import DEFAULT_DENY, Decision, Outcome
from tether.governance.engine import Policies, Resource
from tether.governance.facts import MODEL_FAMILY, TOOL_FAMILY, ModelFacts, Principal
from tether.governance.guardrails import Guardrails
from tether.governance.loader import PACKS, PolicySource, Source, compile_policies
from tether.governance.terms import ApprovalTerms

__all__ = [
    "DEFAULT_DENY",
    "MODEL_FAMILY",
    "PACKS",
    "TOOL_FAMILY",
    "ApprovalTerms",
    "Approvals",
    "Decision",
    "Guardrails",
    "ModelFacts",
    "Outcome",
    "Policies",
    "PolicySource",
    "Principal",
    "Resource",
    "Source",
    "SweepReport",
    "compile_policies",
]
