"""HTTP tools: declared in YAML or imported from OpenAPI, behind an SSRF guard (DESIGN §2.5)."""

from tether.tools.http.openapi import load_openapi_tools, openapi_tool_file
from tether.tools.http.spec import HttpToolFile, HttpToolSpec, load_tool_file
from tether.tools.http.ssrf import AllowList, Verdict, blocked_reason, check, parse_ip_literal
from tether.tools.http.toolset import HttpToolset, load_http_tools
from tether.tools.http.transport import GuardedTransport, resolve

__all__ = [
    "AllowList",
    "GuardedTransport",
    "HttpToolFile",
    "HttpToolSpec",
    "HttpToolset",
    "Verdict",
    "blocked_reason",
    "check",
    "load_http_tools",
    "load_openapi_tools",
    "load_tool_file",
    "openapi_tool_file",
    "parse_ip_literal",
    "resolve",
]
