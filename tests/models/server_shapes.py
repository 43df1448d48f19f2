"""What each inference server accepts in a request, as JSON schemas, and a handler for the test
server that answers 400 to anything else, as the real servers do.

The schemas list the request fields each server reads (see the inference notes); a field a
server does not know is a rejection here. Real servers differ in strictness (vLLM silently
ignores the legacy ``guided_*`` fields), but a silently ignored constraint is as wrong as a
rejected one, so the validator treats both as errors.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from tests.models.httpserver import Handler, Recorded, Reply

Schema = dict[str, Any]

_OBJECT: Schema = {"type": "object"}
_MESSAGES: Schema = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "role": {"enum": ["system", "user", "assistant", "tool"]},
            "content": {"type": "string"},
        },
        "required": ["role", "content"],
    },
}
_COMMON: Schema = {
    "model": {"type": "string", "minLength": 1},
    "messages": _MESSAGES,
    "temperature": {"type": "number", "minimum": 0},
    "stream": {"const": False},
    "seed": {"type": "integer"},
    "stop": {"type": "array", "items": {"type": "string"}},
    "max_tokens": {"type": "integer", "minimum": 1},
}
_SCHEMA_NAME: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}


def _json_schema_format(*, name_required: bool) -> Schema:
    """``response_format: {"type": "json_schema", "json_schema": {name, strict, schema}}``."""
    inner: Schema = {
        "type": "object",
        "properties": {"name": _SCHEMA_NAME, "strict": {"type": "boolean"}, "schema": _OBJECT},
        "required": ["name", "schema"] if name_required else ["schema"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"type": {"const": "json_schema"}, "json_schema": inner},
        "required": ["type", "json_schema"],
        "additionalProperties": False,
    }


def _request(fields: Schema, *, at_most_one: tuple[str, ...] = ()) -> Schema:
    """A chat request with the common fields plus ``fields``, nothing else; of the fields in
    ``at_most_one`` (alternative constraints) at most one may be present."""
    schema: Schema = {
        "type": "object",
        "properties": {**_COMMON, **fields},
        "required": ["model", "messages"],
        "additionalProperties": False,
    }
    if len(at_most_one) > 1:
        pairs = [
            {"required": [a, b]} for i, a in enumerate(at_most_one) for b in at_most_one[i + 1 :]
        ]
        schema["not"] = {"anyOf": pairs}
    return schema


def _one_of_keys(**values: Schema) -> Schema:
    """An object holding exactly one of ``values``' keys."""
    return {
        "type": "object",
        "properties": values,
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
    }


_THINKING: Schema = {
    "type": "object",
    "properties": {"enable_thinking": {"type": "boolean"}},
    "additionalProperties": False,
}

REQUEST_SCHEMAS: dict[str, Schema] = {
    # OpenAI: json_schema response format only; strict mode needs a name.
    "openai": _request(
        {
            "response_format": _json_schema_format(name_required=True),
            "prompt_cache_key": {"type": "string"},
        }
    ),
    # vLLM >= 0.12: structured_outputs with one of json, regex, grammar (guided_* are gone),
    # or OpenAI's response_format.
    "vllm": _request(
        {
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "structured_outputs": _one_of_keys(
                json=_OBJECT, regex={"type": "string"}, grammar={"type": "string"}
            ),
            "response_format": _json_schema_format(name_required=True),
            "chat_template_kwargs": _THINKING,
        },
        at_most_one=("structured_outputs", "response_format"),
    ),
    # SGLang: OpenAI's response_format, or its own top-level regex / ebnf; one constraint.
    "sglang": _request(
        {
            "response_format": _json_schema_format(name_required=True),
            "regex": {"type": "string"},
            "ebnf": {"type": "string"},
            "chat_template_kwargs": _THINKING,
        },
        at_most_one=("response_format", "regex", "ebnf"),
    ),
    # llama-server: the schema nested under json_schema.schema (a bare schema there becomes
    # {}), or a top-level json_schema, or a GBNF grammar; adapters by lora id.
    "llama-server": _request(
        {
            "response_format": _json_schema_format(name_required=False),
            "json_schema": _OBJECT,
            "grammar": {"type": "string"},
            "lora": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "scale": {"type": "number"}},
                    "required": ["id", "scale"],
                    "additionalProperties": False,
                },
            },
        },
        at_most_one=("response_format", "json_schema", "grammar"),
    ),
    # llama-cpp-python's server: json_object with a schema (json_schema is a 500 there).
    "llama-cpp-python": _request(
        {
            "response_format": {
                "type": "object",
                "properties": {"type": {"const": "json_object"}, "schema": _OBJECT},
                "required": ["type", "schema"],
                "additionalProperties": False,
            },
            "grammar": {"type": "string"},
        },
        at_most_one=("response_format", "grammar"),
    ),
    # Ollama's /v1 maps response_format json_schema to its native ``format``; no grammars.
    "ollama": _request({"response_format": _json_schema_format(name_required=False)}),
}

#: TGI's native ``POST /generate``: ``parameters.grammar`` is ``{type: json|regex, value}``.
TGI_GENERATE: Schema = {
    "type": "object",
    "properties": {
        "inputs": {"type": "string", "minLength": 1},
        "parameters": {
            "type": "object",
            "properties": {
                "max_new_tokens": {"type": "integer", "minimum": 1},
                "details": {"type": "boolean"},
                "return_full_text": {"type": "boolean"},
                "do_sample": {"type": "boolean"},
                "temperature": {"type": "number", "exclusiveMinimum": 0},
                "seed": {"type": "integer"},
                "stop": {"type": "array", "items": {"type": "string"}},
                "adapter_id": {"type": "string"},
                "grammar": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {"type": {"const": "json"}, "value": _OBJECT},
                            "required": ["type", "value"],
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": "regex"},
                                "value": {"type": "string"},
                            },
                            "required": ["type", "value"],
                            "additionalProperties": False,
                        },
                    ]
                },
            },
            "additionalProperties": False,
        },
    },
    "required": ["inputs"],
    "additionalProperties": False,
}

for _schema in (*REQUEST_SCHEMAS.values(), TGI_GENERATE):
    Draft202012Validator.check_schema(_schema)


def problems(schema: Schema, body: Any) -> list[str]:
    """Why ``body`` does not match ``schema`` (empty when it does)."""
    errors = Draft202012Validator(schema).iter_errors(body)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors]


def validating(schema: Schema, reply: Reply) -> Handler:
    """A route handler: ``reply`` to a body matching ``schema``, else 400 with the reasons in
    an OpenAI-style error body."""

    def handle(req: Recorded) -> Reply:
        try:
            body = req.json()
        except ValueError:
            return Reply(400, {"error": {"message": "body is not JSON", "type": "invalid_json"}})
        found = problems(schema, body)
        if found:
            message = "invalid request: " + "; ".join(found)
            return Reply(400, {"error": {"message": message, "type": "invalid_request_error"}})
        return reply

    return handle
