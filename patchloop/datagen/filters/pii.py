"""PII and secrets: e-mail addresses and IP addresses by pattern, keys and tokens with
``detect-secrets``, each replaced by a placeholder (``<EMAIL>``, ``<IP_ADDRESS>``, ``<KEY>``)
and counted.

The secret detectors are detect-secrets' pattern plugins (AWS, GitHub, Slack, Stripe, JWT,
private keys...), not its high-entropy ones: code is full of hashes and base64 test data that
entropy alone cannot tell from a key. Loopback, private and unspecified IP addresses stay
(``127.0.0.1`` in a test is nobody's address); so do ``example.com``-style mail domains of
documentation. A version string that happens to read as an address (``1.2.3.4``) is replaced:
the cost of a false positive is one placeholder in a seed.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field

EMAIL = "<EMAIL>"
IP = "<IP_ADDRESS>"
KEY = "<KEY>"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![\w:])")  # checked by ipaddress
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_\-+/=.]")
_DOC_DOMAINS = ("example.com", "example.org", "example.net")

PLUGINS = ("ArtifactoryDetector", "AWSKeyDetector", "AzureStorageKeyDetector", "BasicAuthDetector",
           "CloudantDetector", "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector",
           "IbmCloudIamDetector", "IbmCosHmacDetector", "JwtTokenDetector", "MailchimpDetector", "NpmDetector",
           "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector", "SendGridDetector", "SlackDetector",
           "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector", "TelegramBotTokenDetector",
           "TwilioKeyDetector")


@dataclass
class Redacted:
    text: str
    counts: Counter = field(default_factory=Counter)  # placeholder kind -> replacements


def _public_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_link_local or ip.is_multicast)


def _email(m: re.Match, counts: Counter) -> str:
    if m.group(0).lower().endswith(_DOC_DOMAINS):
        return m.group(0)
    counts["EMAIL"] += 1
    return EMAIL


def _ip(m: re.Match, counts: Counter) -> str:
    if not _public_ip(m.group(0)):
        return m.group(0)
    counts["IP_ADDRESS"] += 1
    return IP


def _secret_spans(line: str) -> list[tuple[int, int]]:
    """Where detect-secrets finds a secret in ``line``, widened to the whole token (a plugin
    may report only the part its pattern captured, e.g. a GitHub token's prefix)."""
    from detect_secrets.core.scan import scan_line

    spans = []
    for secret in scan_line(line):
        value = secret.secret_value or ""
        start = line.find(value) if value else -1
        if start < 0:
            continue
        end = start + len(value)
        while start > 0 and _TOKEN_CHARS.match(line[start - 1]):
            start -= 1
        while end < len(line) and _TOKEN_CHARS.match(line[end]):
            end += 1
        spans.append((start, end))
    return spans


def _redact_secrets(text: str, counts: Counter) -> str:
    from detect_secrets.settings import transient_settings

    def pem(_m: re.Match) -> str:
        counts["KEY"] += 1
        return KEY

    text = _PEM.sub(pem, text)
    out = []
    with transient_settings({"plugins_used": [{"name": p} for p in PLUGINS]}):
        for line in text.splitlines(keepends=True):
            for start, end in sorted(set(_secret_spans(line)), reverse=True):
                if line[start:end] != KEY:
                    line = line[:start] + KEY + line[end:]
                    counts["KEY"] += 1
            out.append(line)
    return "".join(out)


def redact(text: str) -> Redacted:
    """``text`` with keys, e-mail and public IP addresses replaced, and how many of each."""
    counts: Counter = Counter()
    text = _redact_secrets(text, counts)
    text = _EMAIL.sub(lambda m: _email(m, counts), text)
    text = _IPV4.sub(lambda m: _ip(m, counts), text)
    text = _IPV6.sub(lambda m: _ip(m, counts), text)
    return Redacted(text, counts)


def redact_row(row: dict, fields: tuple[str, ...]) -> tuple[dict, Counter]:
    """A copy of ``row`` with ``fields`` redacted, and the summed counts."""
    out, total = dict(row), Counter()
    for f in fields:
        if isinstance(out.get(f), str):
            r = redact(out[f])
            out[f], total = r.text, total + r.counts
    return out, total
