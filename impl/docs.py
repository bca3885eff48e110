"""The published contract at well-known addresses, and its documentation page.

The spec is served at the root (``/openapi.json``, ``/openapi.yaml``), where integrators and
client generators look first, from the file itself: ``$ref``s kept, so generated clients get
the named schemas. connexion's own copy under the base path, which inlines every ``$ref``, is
off, so there is one published document. The documentation page is connexion's Swagger UI
under the base path (``.../ui/``), pointed at that document; its assets come from
``swagger-ui-bundle-v2`` in the wheel, so it works with no network.
"""

from __future__ import annotations

import json

from connexion.options import SwaggerUIOptions
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from applytry import contract

UI_PATH = "/ui/"
SPEC_URL = "/openapi.json"
SWAGGER_UI = SwaggerUIOptions(
    serve_spec=False,
    swagger_ui_path=UI_PATH.rstrip("/"),
    swagger_ui_template_arguments={"openapi_spec_url": SPEC_URL},
)


class PublishedSpec:
    """The spec as YAML (verbatim, comments and all) and as JSON, read once at start-up."""

    def __init__(self):
        self.yaml_text = contract.text()
        document = contract.document()
        self.json_text = json.dumps(document, ensure_ascii=False)
        self.base_path = document["servers"][0]["url"].rstrip("/")

    async def as_json(self, _request: Request) -> Response:
        return Response(self.json_text, media_type="application/json")

    async def as_yaml(self, _request: Request) -> Response:
        return Response(self.yaml_text, media_type="application/yaml")

    async def to_documentation(self, request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return RedirectResponse(root + self.base_path + UI_PATH, status_code=307)


def publish(app) -> None:
    spec = PublishedSpec()
    app.add_url_rule(SPEC_URL, "openapi_json", spec.as_json, methods=["GET"])
    app.add_url_rule("/openapi.yaml", "openapi_yaml", spec.as_yaml, methods=["GET"])
    for path in ("/", "/docs"):
        app.add_url_rule(path, None, spec.to_documentation, methods=["GET"])
