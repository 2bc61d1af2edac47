"""Tool definitions: JSON Schema from type hints and docstrings, names, the registry."""

from __future__ import annotations

import enum
from typing import Any, Literal

import pydantic
import pytest

from kimi_magic.tools.registry import Registry, ToolError, tool_from_function
from kimi_magic.tools.schema import describe_parameters, json_type


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (tuple[str, ...], {"type": "array", "items": {"type": "string"}}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Literal["C", "F"], {"enum": ["C", "F"]}),
        (Colour, {"enum": ["red", "blue"]}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (Any, {}),
    ],
)
def test_hints_become_json_types(hint: Any, schema: dict[str, Any]) -> None:
    assert json_type(hint) == schema


GOOGLE = """Today's weather in a city.

    Looks it up.

    Args:
        city: The city's name,
            as people write it.
        unit (str): C or F.

    Returns:
        A sentence.
    """
NUMPY = """Today's weather in a city.

    Parameters
    ----------
    city : str
        The city's name.
    unit : str, optional
        C or F.
    """
RST = """Today's weather in a city.

    :param city: The city's name.
    :param str unit: C or F.
    :returns: A sentence.
    """


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, RST], ids=["google", "numpy", "rest"])
def test_docstring_styles_describe_each_argument(doc: str) -> None:
    description, params = describe_parameters(doc)
    assert description.startswith("Today's weather in a city.")
    assert "Returns" not in description and "name" not in description
    assert params["city"].startswith("The city's name")
    assert params["unit"] == "C or F."


def test_google_continuation_lines_join() -> None:
    assert describe_parameters(GOOGLE)[1]["city"] == "The city's name, as people write it."


def weather(city: str, unit: Literal["C", "F"] = "C", days: int = 1) -> str:
    """Today's weather in a city.

    Args:
        city: The city's name.
        unit: Celsius or Fahrenheit.
    """
    return f"{city}: 21 {unit}"


def test_tool_definition_from_a_function() -> None:
    definition = tool_from_function(weather).definition()
    assert definition == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Today's weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city's name."},
                    "unit": {
                        "enum": ["C", "F"],
                        "description": "Celsius or Fahrenheit.",
                        "default": "C",
                    },
                    "days": {"type": "integer", "default": 1},
                },
                "required": ["city"],
            },
        },
    }


class Point(pydantic.BaseModel):
    x: float
    y: float


class Shape(pydantic.BaseModel):
    name: str
    points: list[Point]


def area(shape: Shape) -> str:
    """The number of points of a shape."""
    return f"{shape.name} has {len(shape.points)} points"


def test_pydantic_model_argument_is_validated_and_its_refs_resolve() -> None:
    made = tool_from_function(area)
    parameters = made.definition()["function"]["parameters"]
    assert parameters["properties"]["shape"]["properties"]["name"] == {
        "title": "Name",
        "type": "string",
    }
    # pydantic's "$ref": "#/$defs/Point" must resolve from the root of `parameters`
    ref = parameters["properties"]["shape"]["properties"]["points"]["items"]["$ref"]
    assert ref == "#/$defs/Point" and "Point" in parameters["$defs"]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate({"shape": {"name": "tri", "points": [{"x": 0, "y": 1}]}}, parameters)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"shape": {"name": "tri", "points": [{"x": "a"}]}}, parameters)
    assert made({"shape": {"name": "tri", "points": [{"x": 0, "y": 1}]}}) == "tri has 1 points"


@pytest.mark.parametrize("name", ["has space", "", "x" * 65, "dot.ted"])
def test_bad_tool_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ToolError, match="letters, digits"):
        tool_from_function(weather, name=name)


def test_registry_replaces_by_name_and_suggests_close_names() -> None:
    registry = Registry()
    registry.add(tool_from_function(weather))
    registry.add(tool_from_function(weather, description="second"))
    assert registry.names() == ["weather"]
    assert registry.get("weather").description == "second"
    with pytest.raises(ToolError, match="Did you mean 'weather'"):
        registry.get("wether")


def test_the_decorator_registers_and_returns_the_function() -> None:
    import kimi_magic.tools as tools

    @tools.tool(name="kimi_test_double", read_only=True)
    def double(x: int) -> int:
        """Twice x."""
        return 2 * x

    try:
        assert double(4) == 8
        registered = tools.REGISTRY.get("kimi_test_double")
        assert registered.read_only and registered({"x": 5}) == 10
    finally:
        tools.REGISTRY.remove("kimi_test_double")
