"""Loading a training config: YAML presets, ``dotted.key=value`` overrides, flags, and the
resolved config written beside a run (refused where it would change a run it resumes).

Apart from ``rl.config`` (the settings themselves) so each file stays one concern; every
name here is re-exported there, which is where callers import them from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A preset or override that does not make a valid config (message names the key and cause)."""


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {key!r}: {p!r} is not a section")
        node = nxt
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """``["train.seed=3", "lora.enabled=true"]`` -> [(key, yaml-parsed value)]."""
    out = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE (e.g. train.learning_rate=1e-4)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({e.__class__.__name__})") from None
        # YAML reads 1e-4 as a string; numbers are what people mean.
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") else value
            except ValueError:
                pass
        out.append((key, value))
    return out


# A section named as a flag means its main key: ``--model X`` sets ``model.name_or_path``.
SECTION_FLAGS = {"model": "model.name_or_path", "data": "data.path", "dataset": "data.path",
                 "lora": "lora.enabled", "output": "train.output_dir"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def config_keys(cls: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """Every leaf key of a config class as ``dotted.path -> pydantic FieldInfo``."""
    out: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.update(config_keys(ann, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = field
    return out


def flag_names(cls: type[BaseModel]) -> dict[str, str]:
    """Every name a flag may use for a key: its dotted path, its last part where no other key
    shares it (``max_steps`` for ``train.max_steps``), and the section shorthands."""
    keys = list(config_keys(cls))
    names = {k: k for k in keys}
    leaves: dict[str, list[str]] = {}
    for k in keys:
        leaves.setdefault(k.rsplit(".", 1)[-1], []).append(k)
    names.update({leaf: ks[0] for leaf, ks in leaves.items() if len(ks) == 1 and leaf not in names})
    names.update({flag: key for flag, key in SECTION_FLAGS.items() if key in keys})
    return names


def _is_bool(field: Any) -> bool:
    ann = field.annotation
    return ann is bool or (getattr(ann, "__args__", None) is not None and set(ann.__args__) <= {bool, type(None)})


def _resolve(cls: type[BaseModel], raw: str) -> str:
    import difflib

    key = raw.strip().lstrip("-").replace("-", "_")
    names = flag_names(cls)
    if key in names:
        return names[key]
    if "." in key and key.split(".", 1)[0] in cls.model_fields:
        return key  # a dotted key under a real section: pydantic names what is wrong with it
    close = dict.fromkeys(names[c] for c in difflib.get_close_matches(key, list(names), n=6, cutoff=0.6))
    hint = f" (did you mean {', '.join(list(close)[:3])}?)" if close else ""
    raise ConfigError(f"unknown option {raw!r}{hint}; `--dry-run` lists every key")


def cli_overrides(cls: type[BaseModel], args: list[str]) -> list[str]:
    """Command-line words -> ``dotted.key=value`` overrides. Accepts ``key=value``,
    ``--key=value``, ``--key value``, ``--flag``/``--no-flag`` for booleans, with dashes or
    underscores, and a key's last part where it is unique (``--max-steps 20``)."""
    keys = config_keys(cls)
    out: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if not word.startswith("--"):
            name, sep, value = word.partition("=")
            if not sep or not name.strip():
                raise ConfigError(f"override {word!r}: expected KEY=VALUE (e.g. train.learning_rate=1e-4)")
            out.append(f"{_resolve(cls, name)}={value}")
            continue
        name, sep, value = word[2:].partition("=")
        if sep:
            out.append(f"{_resolve(cls, name)}={value}")
            continue
        norm = name.replace("-", "_")
        negated = norm.startswith("no_") and norm not in flag_names(cls)
        key = _resolve(cls, norm[3:] if negated else norm)
        if _is_bool(keys[key]):
            nxt = args[i].lower() if i < len(args) else ""
            if not negated and nxt in _TRUE | _FALSE:  # --lora false
                out.append(f"{key}={nxt}")
                i += 1
            else:
                out.append(f"{key}={'false' if negated else 'true'}")
            continue
        if negated:
            raise ConfigError(f"option {word!r}: {key} is not a yes/no setting")
        if i >= len(args):
            raise ConfigError(f"option {word!r} needs a value")
        out.append(f"{key}={args[i]}")
        i += 1
    return out


def describe_keys(cls: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(flag, dotted key, first line of its docstring) for every key: the ``--dry-run`` table."""
    names = flag_names(cls)
    shortest: dict[str, str] = {}
    for flag, key in names.items():
        rank = (len(flag), flag not in SECTION_FLAGS)  # --data over --path
        if key not in shortest or rank < (len(shortest[key]), shortest[key] not in SECTION_FLAGS):
            shortest[key] = flag
    return [("--" + shortest[k].replace("_", "-"), k, (f.description or "").split("\n")[0])
            for k, f in config_keys(cls).items()]


def load_config(cls: type[BaseModel], path: str | Path | None, overrides: list[str] | None = None):
    """Load ``cls`` from a YAML preset (or defaults when ``path`` is None) and apply overrides
    (command-line words in any form ``cli_overrides`` accepts)."""
    data = read_preset(path) if path is not None else {}
    return config_from_data(cls, data, overrides, str(path or cls.__name__))


def read_preset(path: str | Path) -> dict[str, Any]:
    """A YAML preset as a mapping (``ConfigError`` naming the file and the cause)."""
    p = Path(path)
    try:
        loaded = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(loaded).__name__}")
    return loaded or {}


def config_from_data(cls: type[BaseModel], data: dict[str, Any], overrides: list[str] | None, where: str):
    """``cls`` from a preset's mapping plus overrides; ``where`` names the source in errors
    (the command line, for a key an override set)."""
    given = {}
    for key, value in parse_overrides(cli_overrides(cls, overrides or [])):
        _set_dotted(data, key, value)
        given[key] = value
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        source = f"command line: {loc}={given[loc]!r}" if loc in given else f"{where}: {loc}"
        raise ConfigError(f"{source}: {first['msg']} ({e.error_count()} error(s))") from None


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (next to the checkpoints it produced); refuse
    (:class:`ConfigError`) a config that differs from that of a run it would resume."""
    from patchloop.rl.resume_guard import refusal

    why = refusal(cfg.model_dump(mode="json"), Path(path))
    if why:
        raise ConfigError(why)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
