"""Shorten text to a display width."""


def truncate(text: str, width: int, placeholder: str = "...") -> str:
    """Return ``text`` if it fits in ``width`` characters, else a prefix ending in
    ``placeholder`` whose total length is exactly ``width``."""
    if width < len(placeholder):
        raise ValueError("width must be at least the placeholder length")
    if len(text) < width:
        return text
    return text[: width - len(placeholder)] + placeholder
