"""Structured answers: `--json` and `--schema NAME` (a JSON Schema dict or a pydantic model).

`response_format` follows docs/design.md section 4: the native endpoint gets the bare JSON Schema
with a `name` key added (it satisfies both Cloudflare's provider code and the published schema),
the OpenAI-compatible endpoint gets OpenAI's `{name, schema, strict}` envelope. The answer is
parsed and validated: into a model instance for pydantic, with jsonschema when installed (or a
small built-in check) for a dict. pydantic and jsonschema stay optional.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import KimiError, StructuredOutputError

DEFAULT_NAME = "answer"
_FENCED = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


@dataclass(frozen=True)
class OutputSpec:
    """What shape the answer must have: any JSON object, or one matching `schema`."""

    schema: dict[str, Any] | None = None
    model: Any = None  # a pydantic BaseModel subclass
    name: str = DEFAULT_NAME
    label: str = "--json"

    def response_format(self, endpoint_kind: str) -> dict[str, Any]:
        if self.schema is None:
            return {"type": "json_object"}
        if endpoint_kind == "openai":
            return {
                "type": "json_schema",
                "json_schema": {"name": self.name, "schema": self.schema, "strict": True},
            }
        return {"type": "json_schema", "json_schema": {**self.schema, "name": self.name}}

    def instruction(self) -> str:
        """A line for the prompt: models follow the format better when told in words too."""
        if self.schema is None:
            return "Answer with one JSON object only, no prose around it."
        return (
            "Answer with one JSON object only, no prose around it, matching this JSON "
            f"Schema:\n```json\n{json.dumps(self.schema, ensure_ascii=False)}\n```"
        )

    def parse(self, text: str) -> Any:
        """The parsed (and validated) answer, or StructuredOutputError keeping the raw text."""
        fenced = _FENCED.match(text)
        body = fenced.group(1) if fenced else text.strip()
        try:
            value = json.loads(body)
        except ValueError as error:
            raise StructuredOutputError(
                f"The answer is not valid JSON ({error}), though {self.label} asked for it.", text
            ) from None
        if self.model is not None:
            from pydantic import ValidationError

            try:
                return self.model.model_validate(value)
            except ValidationError as error:
                raise StructuredOutputError(
                    f"The answer does not fit {self.model.__name__}: {_first_lines(str(error))}",
                    text,
                ) from None
        if self.schema is None:
            if not isinstance(value, dict):
                raise StructuredOutputError(
                    f"The answer is JSON but a {type(value).__name__}, not an object.", text
                )
            return value
        problem = schema_problem(value, self.schema)
        if problem:
            raise StructuredOutputError(
                f"The answer does not match the schema {self.name}: {problem}.", text
            )
        return value


def _first_lines(text: str, count: int = 4) -> str:
    return " ".join(line.strip() for line in text.splitlines()[:count])


def spec_from(
    json_flag: bool, schema_name: str | None, namespace: Mapping[str, Any]
) -> OutputSpec | None:
    """The OutputSpec for `--json` / `--schema NAME`, NAME looked up in the notebook."""
    if not schema_name:
        return OutputSpec() if json_flag else None
    from .interpolate import MissingReference, resolve

    try:
        value = resolve(schema_name, namespace)
    except MissingReference:
        raise KimiError(
            f"--schema {schema_name}: '{schema_name}' is not defined in the notebook. "
            "Define a JSON Schema dict or a pydantic model class under that name "
            "first."
        ) from None
    label = f"--schema {schema_name}"
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        schema = value.model_json_schema()
        return OutputSpec(schema, value, _wire_name(schema.get("title") or schema_name), label)
    if isinstance(value, Mapping):
        schema = dict(value)
        if "type" not in schema and "properties" not in schema and "$ref" not in schema:
            raise KimiError(
                f"--schema {schema_name}: the dict does not look like a JSON Schema "
                "(no 'type' or 'properties')."
            )
        problem = invalid_schema(schema)
        if problem:
            raise KimiError(
                f"--schema {schema_name} is not a valid JSON Schema: {problem}. Nothing was "
                "sent; fix the schema (https://json-schema.org/understanding-json-schema) and "
                "run again."
            )
        return OutputSpec(schema, None, _wire_name(schema.get("title") or schema_name), label)
    raise KimiError(
        f"--schema {schema_name}: a {type(value).__name__} is not a schema. Use a "
        "JSON Schema dict or a pydantic model class (pydantic v2)."
    )


def _wire_name(text: str) -> str:
    # OpenAI allows letters, digits, '_' and '-' in the name, up to 64 characters.
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_")[:64]
    return cleaned or DEFAULT_NAME


# -- a small JSON Schema check, for when jsonschema is not installed -------------------------


def invalid_schema(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` is no valid JSON Schema (`{"type": "objekt"}`), or None; checked against
    the metaschema when jsonschema is installed, else the `type` keywords only."""
    problem = _bad_types(schema, "schema")  # the plainest words for the commonest slip
    if problem:
        return problem
    try:
        import jsonschema
    except ImportError:
        return None
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        where = "".join(f"[{p!r}]" for p in error.absolute_path)
        return f"schema{where}: {error.message}"
    return None


def _bad_types(schema: Any, where: str) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    kinds = schema.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
        if kind not in _TYPES:
            return f"{where}['type']: {kind!r} is not one of {sorted(_TYPES)}"
    for name, sub in (schema.get("properties") or {}).items():
        problem = _bad_types(sub, f"{where}['properties'][{name!r}]")
        if problem:
            return problem
    return _bad_types(schema.get("items"), f"{where}['items']")


def schema_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    """The first way `value` breaks `schema`, or None; jsonschema decides when installed."""
    try:
        import jsonschema
    except ImportError:
        return _check(value, schema, "answer")
    validator_class = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(value))
    if error is None:
        return None
    where = "".join(f"[{p!r}]" for p in error.absolute_path)
    return f"answer{where}: {error.message}"


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _check(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    expected = schema.get("type")
    if expected is not None:
        kinds = expected if isinstance(expected, list) else [expected]
        is_bool = isinstance(value, bool)
        if not any(
            isinstance(value, _TYPES.get(k, object)) and (k == "boolean" or not is_bool)
            for k in kinds
        ):
            return f"{where} should be {' or '.join(kinds)}, got {type(value).__name__}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} should be one of {schema['enum']}, got {value!r}"
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                return f"{where} is missing the required property '{name}'"
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                problem = _check(item, properties[name], f"{where}[{name!r}]")
                if problem:
                    return problem
            elif schema.get("additionalProperties") is False:
                return f"{where} has a property '{name}' the schema does not allow"
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for position, item in enumerate(value):
            problem = _check(item, schema["items"], f"{where}[{position}]")
            if problem:
                return problem
    return None
