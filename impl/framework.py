"""connexion, with the work that never changes between requests done once.

connexion 3.3 routes and validates every request from the spec, which is what we want, but it
rebuilds per request what depends only on the operation: the URI parser (twice), the parameter
validator, the media-type table, the body validator and its JSON-schema validator, and the
handler's whole decorator chain, including an ``inspect.signature`` of the handler. Together
that costs more than our handler. The classes here build each piece once per operation and
reuse it, with connexion's own code doing the checks, so the spec stays the single source of
validation and every reply is the one connexion would send.

:func:`middlewares` is the stack, in order: connexion's own, less the response validator when
responses are not validated, with the documentation page's router entered only for its paths.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
from collections.abc import Sequence

from connexion.apps.asynchronous import AsyncApi, AsyncASGIApp, AsyncOperation
from connexion.context import receive as current_receive
from connexion.context import scope as current_scope
from connexion.datastructures import MediaTypeDict
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import pythonic, sanitized, unwrap_decorators
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.security import SecurityAPI, SecurityMiddleware, SecurityOperation
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIConfig
from connexion.utils import inspect_function_arguments, is_json_mimetype, is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, ParameterValidator
from connexion.validators.parameter import draft4_format_checker
from jsonschema import Draft4Validator, ValidationError
from starlette.routing import Mount

from applytry import wire

# The connexion whose private parts these classes use: another one must be checked by the
# differential tests (contract-tests/test_differential.py) before it may run, so it stops the
# service at start-up instead of skipping validation without a word.
CONNEXION = "3.3"
_installed = importlib.metadata.version("connexion")
if not _installed.startswith(CONNEXION + "."):
    raise RuntimeError(
        f"applytry.framework is written for connexion {CONNEXION}.x, not {_installed}: "
        "run the differential tests against the new version and update the module"
    )


class ValidatedOnce(RequestValidationOperation):
    """connexion's request validation for one operation, its validators built once.

    The one deliberate difference from connexion: the body's media type is read by RFC 9110
    and must be one the operation documents, in UTF-8 (:func:`applytry.wire.accepted`).
    connexion compares the header's spelling, looks the validator up in another case than it
    accepted the type in and then skips validation for want of one, takes a request without
    ``Content-Type`` for the operation's first type and decodes any charset it is told."""

    def __init__(self, next_app, **kwargs):
        super().__init__(next_app, **kwargs)
        operation = self._operation
        self._uri_parser = operation.uri_parser_class(
            operation.parameters, operation.body_definition()
        )
        self._parameters = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=self._uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._consumes = operation.consumes if operation.request_body else []
        self._bodies = {mime_type: self._body_validator(mime_type) for mime_type in self._consumes}

    def _body_validator(self, mime_type: str):
        operation = self._operation
        schema = operation.body_schema(mime_type)
        if not schema:
            return None
        try:
            validator_class = self._validator_map["body"][mime_type]
        except KeyError:
            return None  # connexion skips validation for media types it has no validator for
        return validator_class(
            schema=schema,
            required=operation.request_body.get("required", False),
            nullable=is_nullable(operation.body_definition(mime_type)),
            encoding=wire.CHARSET,
            strict_validation=self.strict_validation,
            uri_parser=self._uri_parser,
        )

    async def __call__(self, scope, receive, send):
        self._parameters.validate(scope)
        if self._consumes:
            mime_type = wire.accepted(_content_type(scope["headers"]), self._consumes)
            validator = self._bodies[mime_type]
            if validator is not None:
                receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


def _content_type(headers) -> str | None:
    """The request's one ``Content-Type``. Two of them are no media type at all (RFC 9110
    section 5.3: it is not a list), whichever one another parser would pick."""
    found = [value for name, value in headers if name == b"content-type"]
    if len(found) > 1:
        return ", ".join(value.decode("latin-1") for value in found)
    return found[0].decode("latin-1") if found else None


class _ValidatedOnceAPI(RequestValidationAPI):
    def make_operation(self, operation) -> ValidatedOnce:
        return ValidatedOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class RequestValidation(RequestValidationMiddleware):
    api_cls = _ValidatedOnceAPI


# Where the JSON body validator leaves the body it parsed and validated, for the handler.
PARSED_BODY = "applytry.parsed_body"


class JSONBodyValidator(JSONRequestBodyValidator):
    """connexion's JSON body validator, holding one JSON-schema validator instead of building
    one on every request (the ``_validator`` property), and keeping the body it parsed in the
    request's scope so that the handler is given that very body instead of parsing it again."""

    @functools.cached_property
    def _validator(self):
        return JSONRequestBodyValidator._validator.fget(self)

    async def _parse(self, stream, scope):
        # connexion's parse, but strict (applytry.wire.parse_json); a body that is not UTF-8
        # raises UnicodeDecodeError, which applytry.problems answers with 400.
        text = b"".join([chunk async for chunk in stream]).decode(wire.CHARSET)
        body = wire.parse_json(text) if text else None
        scope.setdefault("extensions", {})[PARSED_BODY] = body
        return body


class ParameterValidatorOnce(ParameterValidator):
    """connexion's parameter validator, with one JSON-schema validator per parameter instead
    of a deep copy of the parameter and a new validator for every value (a browser sends
    Accept-Language with every request)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._validators: dict[int, tuple[dict, Draft4Validator]] = {}

    def validate_parameter(self, parameter_type, value, param, param_name=None):
        if value is None or (is_nullable(param) and is_null(value)):
            return ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        entry = self._validators.get(id(param))
        if entry is None or entry[0] is not param:
            schema = param.get("schema", param)
            entry = (param, Draft4Validator(schema, format_checker=draft4_format_checker))
            self._validators[id(param)] = entry
        try:
            entry[1].validate(value)
        except ValidationError as exception:
            return str(exception)
        return None


def validator_map() -> dict:
    """connexion's validators, with the JSON-schema validators built once."""
    bodies = MediaTypeDict(VALIDATOR_MAP["body"])
    bodies["*/*json"] = JSONBodyValidator
    return {"body": bodies, "parameter": ParameterValidatorOnce}


class _DecoratedOnce(StarletteDecorator):
    """connexion's handler decorators (parameters in, response out), applied once.

    A handler whose only argument is the JSON body of an operation with no path or query
    parameters (every JSON operation here) gets the parsed body directly: that is all
    connexion's parameter decorator would pass it, after looking for path, query and form
    parameters and files that such an operation cannot have."""

    def __init__(self, operation, **kwargs):
        super().__init__(**kwargs)
        self._operation = operation
        self._uri_parser = operation.uri_parser_class(
            operation.parameters, operation.body_definition()
        )

    def __call__(self, function):
        body_name = self._json_body_only(function)
        if body_name is None:
            decorated = self.decorate(function)
        else:
            respond = self._response_decorator_cls(
                framework=self.framework, jsonifier=self.jsonifier
            )
            decorated = respond(_with_json_body(function, body_name, self._operation))

        @functools.wraps(function)
        async def wrapper():
            request = ConnexionRequest(current_scope, current_receive, uri_parser=self._uri_parser)
            return await decorated(request)

        return wrapper

    def _json_body_only(self, function) -> str | None:
        """The body's argument name when it is the handler's only one and the body is JSON."""
        operation = self._operation
        consumes = operation.consumes
        if not consumes or not all(map(is_json_mimetype, consumes)):
            return None
        if any(parameter["in"] != "header" for parameter in operation.parameters):
            return None  # connexion passes no header parameter to a handler
        arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(function))
        body_name = self.sanitize_fn(operation.body_name(consumes[0]))
        return body_name if arguments == [body_name] and not has_kwargs else None

    @property
    def sanitize_fn(self):
        return pythonic if self.pythonic_params else sanitized


def _with_json_body(function, body_name: str, operation):
    default = operation.body_schema(operation.consumes[0]).get("default", {})

    async def handler(request: ConnexionRequest):
        extensions = request.scope.get("extensions") or {}
        body = extensions[PARSED_BODY] if PARSED_BODY in extensions else await request.get_body()
        if body is None:  # as connexion: the schema's default body in place of a missing one
            body = copy.deepcopy(default)
        return await function(**{body_name: body})

    return handler


class HandledOnce(AsyncOperation):
    """An operation whose handler is decorated when it is built, not on every request."""

    @classmethod
    def from_operation(cls, operation, *, pythonic_params, jsonifier):
        handled = super().from_operation(
            operation, pythonic_params=pythonic_params, jsonifier=jsonifier
        )
        handled._decorated = _DecoratedOnce(
            operation, pythonic_params=pythonic_params, jsonifier=jsonifier
        )(handled._fn)
        return handled

    @property
    def fn(self):
        return self._decorated


class _HandledOnceAPI(AsyncApi):
    def make_operation(self, operation) -> HandledOnce:
        return HandledOnce.from_operation(
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


def handle_once(app) -> None:
    """Makes ``app`` (a connexion AsyncApp, before its first ``add_api``) build its handlers'
    decorators once. connexion offers no option for it; its inner app is private."""
    inner: AsyncASGIApp = app._middleware_app
    inner.api_cls = _HandledOnceAPI
    inner.router.redirect_slashes = False  # as in Routing: /openapi.json/ is no redirect


class DocumentationPage(SwaggerUIMiddleware):
    """connexion's Swagger UI, whose router only the page's own paths enter; every other
    request goes straight on instead of being matched against its routes first."""

    def __init__(self, app):
        super().__init__(app)
        self._prefixes: list[str] = []

    def add_api(self, specification, base_path=None, arguments=None, **kwargs):
        super().add_api(specification, base_path=base_path, arguments=arguments, **kwargs)
        mount = self.router.routes[-1]  # the API's mount, at its base path
        options = SwaggerUIConfig(
            kwargs.get("swagger_ui_options"), oas_version=specification.version
        )
        self._prefixes.append(mount.path + options.swagger_ui_path.rstrip("/"))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(tuple(self._prefixes)):
            await super().__call__(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class Routing(RoutingMiddleware):
    """connexion's routing, without Starlette's trailing-slash redirect: that answers a path
    it does not know with 307 and a ``Location`` built from the client's ``Host`` header, and
    a client that follows it sends its POST again. An unknown path is a 404 problem."""

    def __init__(self, app):
        super().__init__(app)
        self.router.redirect_slashes = False

    def add_api(self, specification, base_path=None, arguments=None, **kwargs):
        super().add_api(specification, base_path=base_path, arguments=arguments, **kwargs)
        for route in self.router.routes:
            if isinstance(route, Mount):  # each API's own router, at its base path
                route.app.redirect_slashes = False


class _CheckedOnceAPI(SecurityAPI):
    def make_operation(self, operation):
        security = getattr(operation, "security", None) or []
        schemes = operation.security_schemes
        if any(all(schemes[name]["type"] == "apiKey" for name in need) for need in security):
            # A requirement met by every request: an empty one, or API keys, which
            # applytry.app.KeysDecide lets through for the handler to judge. connexion would
            # still build a request object and try each scheme in turn to reach that verdict.
            return SecurityOperation(
                self.next_app,
                security_handler_factory=self.security_handler_factory,
                security=[],
                security_schemes=schemes,
            )
        return super().make_operation(operation)


class Security(SecurityMiddleware):
    """connexion's security checks, skipped where they accept every request."""

    api_cls = _CheckedOnceAPI


def middlewares(
    *,
    validate_responses: bool,
    outer: Sequence = (),
    unrouted: Sequence = (),
    tuned: bool = True,
) -> list:
    """The middleware stack, outermost first. ``outer`` comes inside the server-error handler
    and outside the exception handler, so it sees every reply, problems included;
    ``unrouted`` comes just before routing, where what it raises becomes a problem.
    ``tuned=False`` gives connexion's own classes in the same places: the oracle that the
    differential tests hold this module to."""
    stack = [
        ServerErrorMiddleware,
        *outer,
        ExceptionMiddleware,
        DocumentationPage if tuned else SwaggerUIMiddleware,
        *unrouted,
        Routing if tuned else RoutingMiddleware,
        Security if tuned else SecurityMiddleware,
        RequestValidation if tuned else RequestValidationMiddleware,
    ]
    if validate_responses:
        stack.append(ResponseValidationMiddleware)
    return [*stack, LifespanMiddleware, ContextMiddleware]
