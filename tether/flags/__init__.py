"""Feature flags: capabilities (tools, memory writes, autonomy, triggers) switched per tenant
or user group (``tether flags``), checked by the runtime and visible in the journal."""

from tether.flags.model import Flag, Flags, check, resolve
from tether.flags.store import FlagStore

__all__ = ["Flag", "FlagStore", "Flags", "check", "resolve"]
