"""The service's OpenAPI document (`GET /openapi.json`) as the service suite reads it: where an
operation's answer is described, and checking a real answer against that description with
jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1, with formats such as date-time checked)."""

from __future__ import annotations

from typing import Any

import jsonschema
import referencing
import requests
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:auction:openapi"
FORMATS = jsonschema.Draft202012Validator.FORMAT_CHECKER
# Without rfc3339-validator jsonschema skips date-time silently; the checks below rely on it.
assert "date-time" in FORMATS.checkers, "install rfc3339-validator (scripts/install-deps.sh)"


def pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class OpenAPIDocument:
    def __init__(self, document: dict[str, Any]):
        self.document = document
        resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = referencing.Registry().with_resource(DOCUMENT_URI, resource)

    def operations(self) -> list[tuple[str, str]]:
        """(METHOD, path template) of every operation."""
        return [(method.upper(), path) for path, item in self.document["paths"].items()
                for method in item if method in ("get", "post", "put", "patch", "delete")]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        return self.document["paths"][path][method.lower()]

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.registry.resolver(DOCUMENT_URI).lookup(DOCUMENT_URI + node["$ref"]).contents
        return node

    def validate(self, schema_pointer: str, value: Any, what: str) -> None:
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#/{schema_pointer}"}, registry=self.registry, format_checker=FORMATS)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        assert not errors, f"{what} does not match the document: " + "; ".join(
            f"at {list(e.absolute_path)}: {e.message}" for e in errors[:5]) + f"\nvalue: {str(value)[:800]}"

    def check(self, method: str, path: str, response: requests.Response) -> Any:
        """Asserts that `response` is an answer the document gives `method path`: a documented
        status, a documented media type, the required headers, and a body that matches its schema.
        Returns the parsed JSON body (or the text)."""
        what = f"{method} {path} -> {response.status_code}"
        responses = self.operation(method, path)["responses"]
        status = str(response.status_code)
        assert status in responses, f"{what}: status not documented (documented: {sorted(responses)}): {response.text[:300]}"
        described = self.resolve(responses[status])
        for name, header in described.get("headers", {}).items():
            header = self.resolve(header)
            value = response.headers.get(name)
            if header.get("required"):
                assert value is not None, f"{what}: required header {name} missing"
            if value is not None:
                typed: Any = int(value) if header["schema"].get("type") == "integer" else value
                self.validate(pointer("paths", path, method.lower(), "responses", status, "headers", name, "schema"),
                              typed, f"{what} header {name}")
        content = described.get("content")
        if not content:
            assert not response.content, f"{what}: a body where the document has none: {response.text[:200]}"
            return None
        media = response.headers.get("Content-Type", "").split(";")[0].strip()
        assert media in content, f"{what}: Content-Type {media!r} not documented ({sorted(content)})"
        if media != "application/json":
            return response.text
        body = response.json()
        self.validate(pointer("paths", path, method.lower(), "responses", status, "content", media, "schema"), body,
                      f"{what} body")
        return body
