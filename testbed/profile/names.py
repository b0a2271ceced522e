"""Name patterns, as censors write them for a TLS SNI or an HTTP Host.

Four forms, compared case-insensitively with the name's trailing dot dropped:
- `twitter.com`: that name exactly;
- `*.twimg.com`: any name under twimg.com (abs.twimg.com), not twimg.com itself;
- `*twitter.com`: any name that ends so: twitter.com, api.twitter.com, and nottwitter.com
  by mistake;
- `*t.co*`: any name that holds it: t.co, and microsoft.com and reddit.com by mistake
  (TSPU's rule of 10 March 2021, Xue et al., IMC 2021);
and `twitter.*` (a name that starts so). A `*` stands only at either end.
No pydantic here: the reader process imports this module.
"""

from __future__ import annotations

import re

MAX_NAME = 253  # a DNS name's longest text form (RFC 1035 2.3.4)
_BODY = re.compile(r"^[a-z0-9_.-]+$")


def normalize(name: str) -> str:
    return name.lower().rstrip(".")


def check_pattern(pattern: str) -> str:
    text = normalize(pattern)
    body = text.strip("*")
    if not body:
        raise ValueError(f"{pattern!r} matches every name: use `tls: true` to match any TLS, or name "
                         "a domain")
    if len(text) > MAX_NAME + 2:
        raise ValueError(f"{pattern!r} is longer than a domain name can be ({MAX_NAME} characters)")
    if "*" in body:
        raise ValueError(f"{pattern!r}: a '*' stands only at the start or the end (*.example.com, "
                         "*example*)")
    if not _BODY.match(body):
        raise ValueError(f"{pattern!r}: a name pattern holds letters, digits, '-', '_', '.' and a '*' at "
                         "either end")
    if ".." in body:
        raise ValueError(f"{pattern!r} has an empty label ('..')")
    return text


def matches(pattern: str, name: str) -> bool:
    """Does normalized `name` match checked `pattern`?"""
    starts, ends = pattern.startswith("*"), pattern.endswith("*") and len(pattern) > 1
    body = pattern.strip("*")
    if starts and ends:
        return body in name
    if starts:
        return name.endswith(body)
    if ends:
        return name.startswith(body)
    return name == body


def any_matches(patterns: tuple[str, ...] | list[str], name: str | None) -> bool:
    if name is None:
        return False
    name = normalize(name)
    return any(matches(p, name) for p in patterns)
