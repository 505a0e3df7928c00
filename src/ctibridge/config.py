"""Build :class:`~ctibridge.settings.Settings` from a TOML file, the environment and flags.

Later sources win: defaults < ``--config FILE`` < ``CTIBRIDGE_*`` variables < command-line flags.
The file's top-level keys are the top-level settings and each table a section of the same name
(``[auth]``, ``[limits]``, ``[journal]``, ...).  Environment variables are derived from the same
names, so nothing is listed twice: ``CTIBRIDGE_PORT``, ``CTIBRIDGE_AUTH_SECRET``,
``CTIBRIDGE_LIMITS_RATE_PER_S``; tuple values are comma-separated.  Unknown keys are errors,
so a typo does not silently leave a default in force.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

import msgspec

from .settings import BridgeConfig, ConnectConfig, RateLimit, Settings

__all__ = [
    "BridgeConfig", "ConfigError", "ConnectConfig", "RateLimit", "Settings", "load_settings",
]  # fmt: skip

ENV_PREFIX = "CTIBRIDGE_"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


def _sections() -> dict[str, type[msgspec.Struct]]:
    hints = get_type_hints(Settings)
    return {
        name: hint
        for name, hint in hints.items()
        if isinstance(hint, type) and issubclass(hint, msgspec.Struct)
    }


def _env_value(struct: type[msgspec.Struct], field: str, raw: str) -> Any:
    """A variable's text as the field wants it: tuples and lists comma-separated, dicts as
    ``key=value,key=value`` (``CTIBRIDGE_CONNECT_AGENTS=alice=u-1,bob=u-2``)."""
    origin = getattr(get_type_hints(struct)[field], "__origin__", None)
    if origin in (tuple, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if origin is dict:
        pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
        return {k.strip(): v.strip() for k, v in pairs}
    return raw


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings named by ``CTIBRIDGE_*`` variables, as a nested dict of raw strings."""
    out: dict[str, Any] = {}
    sections = _sections()
    for field in msgspec.structs.fields(Settings):
        if field.name in sections:
            section = sections[field.name]
            prefix = f"{ENV_PREFIX}{field.name}_".upper()
            known = {f"{prefix}{sub.name}".upper() for sub in msgspec.structs.fields(section)}
            typos = sorted(k for k in env if k.startswith(prefix) and k not in known)
            if typos:
                raise ConfigError(f"{typos[0]}: no such key in [{field.name}]")
            for sub in msgspec.structs.fields(section):
                key = f"{ENV_PREFIX}{field.name}_{sub.name}".upper()
                if key in env:
                    raw = _env_value(section, sub.name, env[key])
                    out.setdefault(field.name, {})[sub.name] = raw
        else:
            key = f"{ENV_PREFIX}{field.name}".upper()
            if key in env:
                out[field.name] = env[key]
    return out


def read_file(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None


def merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``top``'s keys laid over it, section by section; within a section a key's
    value is replaced whole (an overridden ``[connect] agents`` table is the new table)."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from the file at ``path`` (if any), then ``env``, then ``overrides``."""
    raw: dict[str, Any] = read_file(path) if path is not None else {}
    raw = merge(raw, env_overrides(env or {}))
    raw = merge(raw, overrides or {})
    unknown = set(raw) - {f.name for f in msgspec.structs.fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as e:
        raise ConfigError(f"invalid setting: {e}") from None
    return _with_secret_file(settings)


def _with_secret_file(settings: Settings) -> Settings:
    auth = settings.auth
    if auth.secret is None and auth.secret_file is not None:
        try:
            secret = Path(auth.secret_file).read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read auth.secret_file: {e.strerror}") from None
        auth = msgspec.structs.replace(auth, secret=secret)
        settings = msgspec.structs.replace(settings, auth=auth)
    return settings
