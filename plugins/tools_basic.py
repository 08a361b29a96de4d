"""Built-in tools: roll_dice, clock, calculator, remember, recall."""

from __future__ import annotations

import ast
import datetime as dt
import operator
import random
import re

from persona.hookspecs import hookimpl
from persona.tools import Tool, ToolContext, ToolError

_DICE = re.compile(r"^\s*(\d{0,3})d(\d{1,4})\s*([+-]\s*\d{1,5})?\s*$", re.I)


def roll_dice(args: dict, ctx: ToolContext) -> str:
    match = _DICE.match(args["spec"])
    if not match:
        raise ToolError(f"not a dice spec: {args['spec']!r} (try 2d6+1)")
    count, sides = int(match.group(1) or 1), int(match.group(2))
    bonus = int(match.group(3).replace(" ", "")) if match.group(3) else 0
    if not (1 <= count <= 100 and 2 <= sides <= 1000):
        raise ToolError("use 1-100 dice of 2-1000 sides")
    rolls = [random.randint(1, sides) for _ in range(count)]
    bonus_text = f" {'+' if bonus >= 0 else '-'} {abs(bonus)}" if bonus else ""
    return f"{args['spec'].strip()}: {' + '.join(map(str, rolls))}{bonus_text} = {sum(rolls) + bonus}"


def clock(args: dict, ctx: ToolContext) -> str:
    now = dt.datetime.now().astimezone()
    return now.strftime("%A %d %B %Y, %H:%M %Z")


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
        ast.USub: operator.neg, ast.UAdd: operator.pos}


MAX_RESULT_BITS = 3000  # about 900 digits; Python refuses to print over 4300


def _evaluate(node: ast.AST) -> float:
    # An AST walker over numbers and arithmetic only: never eval().
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 100 or abs(left) > 1e6):
            raise ToolError("exponent too large")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand))
    raise ToolError("only numbers and + - * / // % ** ( ) are allowed")


def calculator(args: dict, ctx: ToolContext) -> str:
    expression = args["expression"]
    if len(expression) > 200:
        raise ToolError("expression too long")
    try:
        value = _evaluate(ast.parse(expression.replace("^", "**"), mode="eval"))
    except SyntaxError:
        raise ToolError(f"cannot read {expression!r}") from None
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except (OverflowError, RecursionError):
        raise ToolError("the result is too large") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise ToolError("the result is too large")
    return f"{expression} = {value}"


def remember(args: dict, ctx: ToolContext) -> str:
    ctx.store.add_note(ctx.persona.id, args["text"])
    return f"noted: {args['text']}"


def recall(args: dict, ctx: ToolContext) -> str:
    notes = ctx.store.notes(ctx.persona.id, args.get("query") or None)
    return "\n".join(f"- {n}" for n in notes) if notes else "nothing noted yet"


def _text_arg(name: str):
    return lambda rest: {name: rest.strip()} if rest.strip() else {}


TOOLS = [
    Tool("roll_dice", "Roll dice, e.g. 2d6+1.", {"type": "object", "properties": {"spec": {"type": "string"}},
         "required": ["spec"], "additionalProperties": False}, roll_dice, "roll", _text_arg("spec")),
    Tool("clock", "The current date and time.", {"type": "object", "properties": {},
         "additionalProperties": False}, clock, "clock", lambda rest: {}),
    Tool("calculator", "Arithmetic, e.g. (3 + 4) * 2.", {"type": "object",
         "properties": {"expression": {"type": "string"}}, "required": ["expression"],
         "additionalProperties": False}, calculator, "calc", _text_arg("expression")),
    Tool("remember", "Write down a note to keep.", {"type": "object", "properties": {"text": {
         "type": "string", "minLength": 1, "maxLength": 1000}}, "required": ["text"],
         "additionalProperties": False}, remember, "remember", _text_arg("text")),
    Tool("recall", "Read back the notes kept so far.", {"type": "object", "properties": {"query": {
         "type": "string"}}, "additionalProperties": False}, recall, "recall", _text_arg("query")),
]


@hookimpl
def register_tools(register):
    for tool in TOOLS:
        register(tool)
