"""URL slugs."""

import unicodedata


def slugify(text: str, sep: str = "-") -> str:
    """Lower-case ASCII words of ``text`` joined by ``sep``."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = []
    for ch in text.lower():
        if ch.isalnum():
            out.append(ch)
        else:
            out.append(sep)
    return "".join(out)
