from curate.rules.base import CallRule


class TC006(CallRule):
    """An argument takes a value outside its parameter's `enum`.

    Enumerations are exact: case and type matter (`"Celsius"` is not `"celsius"`, `1` is not
    `true`).

    **Anti-pattern**::

        schema: {"unit": {"enum": ["celsius", "fahrenheit"]}}   call: {"arguments": {"unit": "kelvin"}}

    **Best practice**::

        {"arguments": {"unit": "celsius"}}
    """

    code = "TC006"
    name = "value-not-in-enum"
    argument_errors = frozenset({"enum"})
