"""The published contract at well-known addresses, and the way to its documentation page.

connexion already serves the spec and Swagger UI under the API's base path
(``/apiaccess/rest/ipccprovision/v1/openapi.json`` and ``.../ui/``). Integrators and client
generators look for the spec at the root first, so it is served there as well, from the same
file. The documentation page is Swagger UI from ``swagger-ui-bundle-v2``, shipped in the wheel:
it works with no network.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

UI_PATH = "/ui/"


class PublishedSpec:
    """The spec as YAML (verbatim, comments and all) and as JSON, read once at start-up."""

    def __init__(self, path: Path):
        self.yaml_text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(self.yaml_text)
        self.json_text = json.dumps(document, ensure_ascii=False)
        self.base_path = document["servers"][0]["url"].rstrip("/")

    async def as_json(self, _request: Request) -> Response:
        return Response(self.json_text, media_type="application/json")

    async def as_yaml(self, _request: Request) -> Response:
        return Response(self.yaml_text, media_type="application/yaml")

    async def to_documentation(self, request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(root + self.base_path + UI_PATH, status_code=307)


def publish(app, spec_path: Path) -> None:
    spec = PublishedSpec(spec_path)
    app.add_url_rule("/openapi.json", "openapi_json", spec.as_json, methods=["GET"])
    app.add_url_rule("/openapi.yaml", "openapi_yaml", spec.as_yaml, methods=["GET"])
    for path in ("/", "/docs"):
        app.add_url_rule(path, None, spec.to_documentation, methods=["GET"])
