"""Agent profiles: the settings that suit one model, kept in a small YAML file.

Small models differ in what they can follow: the 0.5B model writes long replies when asked to
call tools and does no better there than with one shell command per turn, so its profile picks
text actions. A profile is a mapping of ``AgentConfig`` fields; ``--agent-profile NAME`` reads
``configs/agent/NAME.yaml`` (or a path). It sets the defaults of a run, and an option given on
the command line still wins over it, so ``--agent-profile M --max-steps 20`` means what it says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from patchloop.agent.state import AgentConfig

PROFILES = Path(__file__).resolve().parents[2] / "configs" / "agent"


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line naming the file and the cause."""


def available() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.yaml"))


def profile_path(name: str) -> Path:
    """``name`` as a file when one exists there, else ``configs/agent/NAME.yaml``."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = PROFILES / f"{name}.yaml"
    if shipped.is_file():
        return shipped
    raise ProfileError(f"agent profile {name!r}: no such file, and not one of {', '.join(available()) or 'none'}")


def load_profile(name: str) -> dict[str, Any]:
    """The profile's settings, checked against ``AgentConfig`` (unknown fields and bad values
    are refused, so a typo cannot silently leave a default in place)."""
    import yaml
    from pydantic import ValidationError

    path = profile_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ProfileError(f"{path}: not readable as YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile is a mapping of agent settings, not {type(data).__name__}")
    unknown = sorted(set(data) - set(AgentConfig.model_fields))
    if unknown:
        raise ProfileError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    try:
        AgentConfig(**data)
    except ValidationError as e:
        err = e.errors()[0]
        raise ProfileError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    return data


def agent_config(options: dict[str, Any], given: set[str], profile: str | None) -> AgentConfig:
    """``AgentConfig`` from command-line ``options`` (field names), the profile under them:
    a profile value is used for each field the user did not give on the command line."""
    values = dict(options)
    if profile:
        values.update({k: v for k, v in load_profile(profile).items() if k not in given})
    return AgentConfig(**values)
