"""The `return` parameter: an address to send the user back to, only on an allowed origin.

An origin is scheme, host and port (RFC 6454). Anything else (another host, a
scheme-relative `//evil`, `javascript:`, credentials in the address, a backslash trick) is
dropped, so the bridge is never an open redirect.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` in lower case, default ports dropped; None if not http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = 443 if parts.scheme == "https" else 80
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    suffix = "" if port in (None, default) else f":{port}"
    return f"{parts.scheme}://{host}{suffix}"


def allowed_return(url: str | None, allowed_origins: tuple[str, ...]) -> str | None:
    """`url` if it is an absolute http(s) address on one of `allowed_origins`, else None."""
    if not url or len(url) > 2000 or any(ch in url for ch in "\\\r\n\t\x00"):
        return None
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return None
    origin = origin_of(url)
    if origin is None:
        return None
    allowed = {o for o in (origin_of(a) for a in allowed_origins) if o is not None}
    return url if origin in allowed else None
