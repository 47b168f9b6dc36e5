"""An agent's memory policy: which tiers it uses, what it may save and what it may read.

Declared under ``memory:`` in an agent file (or ``Agent(memory=...)``); unset, an agent has no
episodic or profile memory and its version hash is the one it had before this field existed.

```yaml
memory:
  episodic: {record: true, recall: true, share: subject, k: 3}
  profile: {read: [preferences], write: [preferences]}
  write: {ttl_s: 7776000, max_episodes: 500, max_profile_keys: 50, allow_pii: false}
  read: {max_age_s: 2592000, allow_pii: false}
```

- **episodic**: ``record`` an episode per finished run; ``recall`` gives the agent the
  ``recall_episodes`` tool over its own episodes for the same subject (the run's user;
  ``share: subject``, the default), its episodes for any subject (``share: agent``) or every
  agent's (``share: tenant``); always within the run's tenant.
- **profile**: the scopes of the subject's profile (the run's user) the agent may read
  (``read_profile``) and write (``remember_preference``, a write tool: governance applies).
- **write**: ``ttl_s`` (how long what the agent writes lives), caps per subject and tier
  (``max_episodes``, ``max_profile_keys``: episodes beyond the cap are compacted away oldest
  first, a profile write beyond it is refused), ``max_value_chars``, ``allow_pii`` (a value
  labelled PII is refused unless true), ``keys`` (glob patterns of profile keys that may be
  saved; empty: any).
- **read**: ``max_age_s`` (freshness: older items are not returned), ``allow_pii`` (items
  labelled PII are left out unless true).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SCOPE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,99}$")


def check_scope(scope: str) -> str:
    """``scope`` if it is a valid profile scope name, else ``ValueError`` saying what to use."""
    if not _SCOPE.match(scope):
        raise ValueError(
            f"profile scope {scope!r} is not a valid name; use letters, digits and . _ : - "
            "(up to 100 characters, starting with a letter or digit)"
        )
    return scope


class EpisodicPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    record: bool = Field(default=True, description="write an episode when a run finishes")
    recall: bool = Field(default=True, description="give the agent the recall_episodes tool")
    share: Literal["subject", "agent", "tenant"] = Field(
        default="subject",
        description="recall this agent's episodes of the same subject, of any subject, "
        "or every agent's episodes in the tenant",
    )
    k: int = Field(default=3, ge=1, le=20, description="most episodes one recall returns")


class ProfileAccess(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read: list[str] = Field(default_factory=list, description="profile scopes it may read")
    write: list[str] = Field(default_factory=list, description="profile scopes it may write")

    @field_validator("read", "write")
    @classmethod
    def _scope_names(cls, scopes: list[str]) -> list[str]:
        for scope in scopes:
            check_scope(scope)
        return scopes


class WritePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl_s: float | None = Field(
        default=None, gt=0, description="seconds what the agent writes lives; None: no expiry"
    )
    max_episodes: int = Field(default=1000, ge=1, description="episodes kept per subject")
    max_profile_keys: int = Field(default=100, ge=1, description="profile keys per subject")
    max_value_chars: int = Field(default=2000, ge=1, le=100_000)
    allow_pii: bool = Field(default=False, description="may save values labelled PII")
    keys: list[str] = Field(
        default_factory=list, description="glob patterns of profile keys it may save; []: any"
    )


class ReadPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_age_s: float | None = Field(
        default=None, gt=0, description="freshness: older items are not returned"
    )
    allow_pii: bool = Field(default=False, description="may read items labelled PII")


class MemoryConfig(BaseModel):
    """The ``memory:`` field of an agent spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    episodic: EpisodicPolicy | None = None
    profile: ProfileAccess = Field(default_factory=ProfileAccess)
    write: WritePolicy = Field(default_factory=WritePolicy)
    read: ReadPolicy = Field(default_factory=ReadPolicy)

    @property
    def records_episodes(self) -> bool:
        return self.episodic is not None and self.episodic.record

    @property
    def recalls_episodes(self) -> bool:
        return self.episodic is not None and self.episodic.recall

    @property
    def uses_tools(self) -> bool:
        """Whether a run of the agent gets memory tools (so needs the memory services)."""
        return self.recalls_episodes or bool(self.profile.read or self.profile.write)
