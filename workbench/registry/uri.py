"""``models:/`` URIs: a registered model's version by number, stage or alias.

>>> parse_model_uri("models:/churn/Production")
ModelRef(name='churn', version=None, stage='Production', alias=None)
>>> parse_model_uri("models:/churn/3")
ModelRef(name='churn', version=3, stage=None, alias=None)
>>> parse_model_uri("models:/churn@champion")
ModelRef(name='churn', version=None, stage=None, alias='champion')
>>> parse_model_uri("models:/churn/latest")
ModelRef(name='churn', version=None, stage=None, alias=None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.errors import InvalidInputError
from workbench.registry.stages import normalize_stage

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")


@dataclass(frozen=True)
class ModelRef:
    """What a URI points at: exactly one of version, stage or alias (none: the latest version)."""

    name: str
    version: int | None = None
    stage: str | None = None
    alias: str | None = None


def check_model_name(name: object) -> str:
    """A registered model's name: letters, digits, ``_ . -``; no ``/`` or ``@``.

    >>> check_model_name("churn-v2")
    'churn-v2'
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInputError(
            f"a model name is 1-200 characters of letters, digits, '_', '.', '-' starting with a "
            f"letter or digit; got {name!r}"
        )
    return name


def check_alias(alias: object) -> str:
    """An alias: an identifier that is neither a number, a stage name nor ``latest``."""
    if not isinstance(alias, str) or not ALIAS_RE.match(alias):
        raise InvalidInputError(
            f"an alias is an identifier (letters, digits, '_', '-', starting with a letter or '_'); "
            f"got {alias!r}"
        )
    if alias.lower() in ("latest", "none", "staging", "production", "archived"):
        raise InvalidInputError(
            f"{alias!r} is reserved (a stage name or 'latest'); choose another alias"
        )
    return alias


def parse_model_uri(uri: str) -> ModelRef:
    """Parse ``models:/<name>/<version|stage|latest>`` or ``models:/<name>@<alias>``."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidInputError(
            f"a model URI looks like 'models:/churn/Production', 'models:/churn/3' or "
            f"'models:/churn@champion'; got {uri!r}"
        )
    rest = uri[len("models:/") :]
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return ModelRef(check_model_name(name), alias=check_alias(alias))
    name, sep, which = rest.partition("/")
    if not sep or not which or "/" in which:
        raise InvalidInputError(
            f"model URI {uri!r} names no version: add '/<version>', '/<stage>', '/latest' "
            f"or '@<alias>'"
        )
    name = check_model_name(name)
    if which.isdigit():
        return ModelRef(name, version=int(which))
    if which.lower() == "latest":
        return ModelRef(name)
    try:
        return ModelRef(name, stage=normalize_stage(which))
    except InvalidInputError:
        raise InvalidInputError(
            f"model URI {uri!r}: {which!r} is neither a version number, a stage nor 'latest'"
        ) from None
