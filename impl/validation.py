"""connexion's request validation, with the JSON-schema validator built once per schema.

connexion builds a ``Draft4RequestValidator`` for the body on every request (the ``_validator``
property of its ``JSONRequestBodyValidator``), which costs more than validating the body. The
schema of an operation never changes, so one validator per schema does the same checks.
"""

from __future__ import annotations

from connexion.datastructures import MediaTypeDict
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator

_built: dict[int, tuple[dict, object]] = {}


class CachedJSONRequestBodyValidator(JSONRequestBodyValidator):
    @property
    def _validator(self):
        entry = _built.get(id(self._schema))
        if entry is None or entry[0] is not self._schema:
            entry = (self._schema, JSONRequestBodyValidator._validator.fget(self))
            _built[id(self._schema)] = entry
        return entry[1]


def validator_map() -> dict:
    """connexion's validators, with the JSON body validator cached."""
    bodies = MediaTypeDict(VALIDATOR_MAP["body"])
    bodies["*/*json"] = CachedJSONRequestBodyValidator
    return {"body": bodies}
