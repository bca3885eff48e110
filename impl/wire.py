"""What the service accepts on the wire: media types by RFC 9110, JSON by RFC 8259.

connexion compares a ``Content-Type`` by its spelling, splits parameters on a bare ``;``,
decodes a body in whatever charset the client names and parses JSON with Python's lenient
defaults (``NaN``, ``Infinity``, integers of any length, the last of duplicate keys). A public
endpoint should be stricter than that and say why it refused, so the request validation
(:mod:`applytry.framework`) reads both through here.
"""

from __future__ import annotations

import json
import math
import re

from connexion.exceptions import BadRequestProblem, UnsupportedMediaTypeProblem

# RFC 9110 section 5.6.2 (token), 5.6.4 (quoted-string) and 8.3.1 (media type).
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_MEDIA_TYPE = re.compile(rf"({_TCHARS})/({_TCHARS})")
_PARAMETER = re.compile(rf"[ \t]*;[ \t]*(?:({_TCHARS})=({_TCHARS}|{_QUOTED}))?")
CHARSET = "utf-8"  # the only one accepted: RFC 8259 section 8.1 for JSON, and our forms
# Longer number literals are no phone, code or name of ours, and past 4,300 digits Python
# refuses to convert them (int_max_str_digits) in the middle of parsing.
MAX_NUMBER_LENGTH = 100


def media_type(header: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` in lower case and the parameters, names in lower case and values
    unquoted; ValueError when the header is not a media type."""
    header = header.strip(" \t")
    found = _MEDIA_TYPE.match(header)
    if found is None:
        raise ValueError(header)
    parameters: dict[str, str] = {}
    position = found.end()
    while position < len(header):
        parameter = _PARAMETER.match(header, position)
        if parameter is None or parameter.end() == position:
            raise ValueError(header)
        name, value = parameter.groups()
        if name is not None and name.lower() in parameters:
            raise ValueError(header)  # two charsets: which one counts is a parser's guess
        if name is not None:
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            parameters[name.lower()] = value
        position = parameter.end()
    return f"{found[1]}/{found[2]}".lower(), parameters


def accepted(header: str | None, consumes: list[str]) -> str:
    """The spec's spelling of the media type ``header`` names among ``consumes``; raises 415
    when there is none, when it is not a media type or when its charset is not UTF-8."""
    expected = f"expected {consumes}"
    if header is None:
        raise UnsupportedMediaTypeProblem(detail=f"Content-Type is missing, {expected}")
    try:
        mime_type, parameters = media_type(header)
    except ValueError:
        raise UnsupportedMediaTypeProblem(
            detail=f"Invalid Content-type ({header}), {expected}"
        ) from None
    match = next((c for c in consumes if c.lower() == mime_type), None)
    if match is None:
        raise UnsupportedMediaTypeProblem(detail=f"Invalid Content-type ({header}), {expected}")
    charset = parameters.get("charset", CHARSET).lower()
    if charset != CHARSET:
        raise UnsupportedMediaTypeProblem(
            detail=f"Unsupported charset ({charset}), send {CHARSET.upper()}"
        )
    return match


def _reject_constant(name: str):
    raise BadRequestProblem(detail=f"{name} is not a JSON number (RFC 8259)")


def _number(convert):
    def parse(literal: str):
        if len(literal) > MAX_NUMBER_LENGTH:
            raise BadRequestProblem(
                detail=f"a number in the body is longer than {MAX_NUMBER_LENGTH} characters"
            )
        number = convert(literal)
        if not math.isfinite(number):  # 1e400 is a float overflow, not a value
            raise BadRequestProblem(detail=f"{literal} is out of range")
        return number

    return parse


def _object(pairs: list[tuple[str, object]]) -> dict:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        name = next(name for name, _ in pairs if name in seen or seen.add(name))
        raise BadRequestProblem(detail=f"duplicate key {json.dumps(name)} in the body")
    return found


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant,
    parse_int=_number(int),
    parse_float=_number(float),
    object_pairs_hook=_object,
)


def parse_json(text: str):
    """RFC 8259 JSON: no ``NaN`` or ``Infinity`` (nor a number that overflows to one), no
    number past :data:`MAX_NUMBER_LENGTH` characters, no duplicate key (which one counts is
    a guess each parser makes its own way). Anything else is a 400 problem, never a 500."""
    if text.startswith("\ufeff"):  # json.loads' own check, which JSONDecoder.decode skips
        raise BadRequestProblem(
            detail="Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"
        )
    try:
        body = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise BadRequestProblem(detail=str(error)) from None
    if _SURROGATE_ESCAPE.search(text) and not _is_unicode(body):
        # "\ud800" alone decodes to a string that is no Unicode text, which nothing after
        # this can encode (RFC 8259 section 8.2 leaves such strings to the parser).
        raise BadRequestProblem(detail="a string in the body has a lone surrogate escape")
    return body


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _is_unicode(value) -> bool:
    """Whether every string in a parsed body, keys included, is Unicode text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_is_unicode(key) and _is_unicode(item) for key, item in value.items())
    if isinstance(value, list):
        return all(map(_is_unicode, value))
    return True
