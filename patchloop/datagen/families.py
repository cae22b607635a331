"""Procedural task families: small, parametrised steps that compose into short functions.

Each family draws ``level`` steps with a seeded ``random.Random`` and yields a ``Spec``: a
one-sentence description ("Return x plus 3, then times 2."), a one-line solution built from
the same steps, and a host-side reference function used to compute expected outputs. The
solution text and the reference are built separately from each step, so the sandbox check
of the solution against the reference's outputs catches a bug in either.

Prompts and solutions stay short on purpose: a model of a few million parameters must be
able to learn them, and the number of composed steps is the difficulty knob.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Step:
    """One operation: its words, how it rewrites the expression, and what it computes."""

    name: str
    phrase: str
    code: Callable[[str], str]
    fn: Callable[[Any], Any]
    prec: int = 9  # precedence of the expression it produces (arithmetic only)


@dataclass
class Spec:
    family: str
    level: int
    params: list[list[Any]]
    entry_point: str
    arg: str
    doc: str
    body: str
    reference: Callable[[Any], Any]
    inputs: list[Any]


# ------------------------------------------------------------------ arithmetic


def _arith_step(rng: random.Random) -> tuple[Step, list[Any]]:
    op = rng.choice(["plus", "minus", "times", "modulo"])
    a = rng.randint(1, 9) if op in ("plus", "minus") else rng.randint(2, 9)
    table = {
        "plus": (lambda e: f"{e} + {a}", lambda v: v + a, 1),
        "minus": (lambda e: f"{e} - {a}", lambda v: v - a, 1),
        "times": (lambda e: f"{e} * {a}", lambda v: v * a, 2),
        "modulo": (lambda e: f"{e} % {a}", lambda v: v % a, 2),
    }
    code, fn, prec = table[op]
    return Step(op, f"{op} {a}", code, fn, prec), [op, a]


def _compose_arith(steps: list[Step]) -> str:
    expr, prec = "x", 9
    for s in steps:
        if s.prec > prec:  # (x + 3) * 2 needs the brackets; x * 2 + 3 does not
            expr = f"({expr})"
        expr, prec = s.code(expr), s.prec
    return expr


# ------------------------------------------------------------------ lists of ints


def _list_step(rng: random.Random) -> tuple[Step, list[Any]]:
    kind = rng.choice(["even", "odd", "gt", "add", "mul", "sort", "sort_desc", "reverse", "dedup"])
    a = rng.randint(-5, 5) if kind == "gt" else rng.randint(1, 9) if kind == "add" else rng.randint(2, 5)
    table = {
        "even": ("keep the even numbers", lambda e: f"[v for v in {e} if v % 2 == 0]", lambda xs: [v for v in xs if v % 2 == 0]),
        "odd": ("keep the odd numbers", lambda e: f"[v for v in {e} if v % 2 == 1]", lambda xs: [v for v in xs if v % 2 == 1]),
        "gt": (f"keep the numbers greater than {a}", lambda e: f"[v for v in {e} if v > {a}]", lambda xs: [v for v in xs if v > a]),
        "add": (f"add {a} to each number", lambda e: f"[v + {a} for v in {e}]", lambda xs: [v + a for v in xs]),
        "mul": (f"multiply each number by {a}", lambda e: f"[v * {a} for v in {e}]", lambda xs: [v * a for v in xs]),
        "sort": ("sort it in ascending order", lambda e: f"sorted({e})", sorted),
        "sort_desc": ("sort it in descending order", lambda e: f"sorted({e}, reverse=True)", lambda xs: sorted(xs, reverse=True)),
        "reverse": ("reverse it", lambda e: f"{e}[::-1]", lambda xs: xs[::-1]),
        "dedup": ("keep only the first copy of each number", lambda e: f"list(dict.fromkeys({e}))", lambda xs: list(dict.fromkeys(xs))),
    }
    phrase, code, fn = table[kind]
    return Step(kind, phrase, code, fn), [kind, a] if kind in ("gt", "add", "mul") else [kind]


def _random_ints(rng: random.Random, lo: int = 0) -> list[int]:
    return [rng.randint(-9, 9) for _ in range(rng.randint(lo, 7))]


# ------------------------------------------------------------------ strings


def _string_step(rng: random.Random) -> tuple[Step, list[Any]]:
    kind = rng.choice(["upper", "lower", "reverse", "nospace", "replace", "strip", "swapcase", "repeat"])
    a, b = rng.sample(string.ascii_lowercase[:8], 2)
    n = rng.randint(2, 3)
    table = {
        "upper": ("convert it to upper case", ".upper()", str.upper),
        "lower": ("convert it to lower case", ".lower()", str.lower),
        "reverse": ("reverse it", "[::-1]", lambda s: s[::-1]),
        "nospace": ("remove the spaces", '.replace(" ", "")', lambda s: s.replace(" ", "")),
        "replace": (f"replace every '{a}' with '{b}'", f'.replace("{a}", "{b}")', lambda s: s.replace(a, b)),
        "strip": ("strip spaces from both ends", ".strip()", str.strip),
        "swapcase": ("swap the case of every letter", ".swapcase()", str.swapcase),
        "repeat": (f"repeat it {n} times", None, lambda s: s * n),
    }
    phrase, suffix, fn = table[kind]
    if suffix is None:
        return Step(kind, phrase, lambda e: f"{e} * {n}", fn, prec=2), [kind, n]
    # A method call on "s * 2" needs brackets: "(s * 2).upper()".
    return Step(kind, phrase, lambda e: f"{e}{suffix}", fn), [kind, a, b] if kind == "replace" else [kind]


def _compose_postfix(var: str, steps: list[Step], *, wrap_end: bool = False) -> str:
    """Chain steps on ``var``; wrap in brackets before a method call or index on ``s * 2``."""
    expr, bare = var, True
    for s in steps:
        if s.prec == 9 and not bare:
            expr = f"({expr})"
        expr, bare = s.code(expr), s.prec == 9
    return expr if bare or not wrap_end else f"({expr})"


def _random_text(rng: random.Random) -> str:
    chars = string.ascii_lowercase[:8] + "ABC" + "  "
    return "".join(rng.choice(chars) for _ in range(rng.randint(0, 9)))


# ------------------------------------------------------------------ builders per family


def _chain(rng: random.Random, level: int, draw: Callable[[random.Random], tuple[Step, list[Any]]]):
    steps, params = [], []
    while len(steps) < level:
        step, p = draw(rng)
        if steps and {step.name, steps[-1].name} in ({step.name}, {"even", "odd"}):
            continue  # "sort, then sort" or "even, then odd" teaches nothing
        steps.append(step)
        params.append(p)
    return steps, params


def _run(steps: list[Step]) -> Callable[[Any], Any]:
    def reference(value: Any) -> Any:
        for s in steps:
            value = s.fn(value)
        return value
    return reference


def _then(phrases: list[str]) -> str:
    return ", then ".join(phrases)


def arith(rng: random.Random, level: int) -> Spec:
    steps, params = _chain(rng, level, _arith_step)
    inputs = rng.sample(range(-20, 21), 5)
    return Spec("arith", level, params, "calc", "x", f"Return x {_then([s.phrase for s in steps])}.",
                f"return {_compose_arith(steps)}", _run(steps), inputs)


def lists(rng: random.Random, level: int) -> Spec:
    steps, params = _chain(rng, level, _list_step)
    inputs = [_random_ints(rng) for _ in range(5)]
    return Spec("list", level, params, "process", "xs",
                f"Take the list xs, {_then([s.phrase for s in steps])}. Return the result.",
                f"return {_compose_postfix('xs', steps)}", _run(steps), inputs)


def strings(rng: random.Random, level: int) -> Spec:
    steps, params = _chain(rng, level, _string_step)
    inputs = [_random_text(rng) for _ in range(5)]
    return Spec("string", level, params, "convert", "s",
                f"Take the string s, {_then([s.phrase for s in steps])}. Return the result.",
                f"return {_compose_postfix('s', steps)}", _run(steps), inputs)


_DICT_OPS = {
    "word_count": ("map each word to the number of times it occurs",
                   "{{w: {e}.split().count(w) for w in {e}.split()}}", lambda t: {w: t.split().count(w) for w in t.split()}),
    "word_len": ("map each word to its length", "{{w: len(w) for w in {e}.split()}}",
                 lambda t: {w: len(w) for w in t.split()}),
    "char_count": ("map each letter to the number of times it occurs",
                   '{{c: {e}.count(c) for c in {e} if c != " "}}', lambda t: {c: t.count(c) for c in t if c != " "}),
}


def dicts(rng: random.Random, level: int) -> Spec:
    """Counting into a dict; level 2 first applies one string step to s."""
    op = rng.choice(sorted(_DICT_OPS))
    phrase, template, count = _DICT_OPS[op]
    pre, params = _chain(rng, level - 1, _string_step) if level > 1 else ([], [])
    expr = _compose_postfix("s", pre, wrap_end=True)
    doc = "Return a dictionary built from s: " + _then([p.phrase for p in pre] + [phrase]) + "."
    words = ["a", "b", "cat", "dog", "Cat", "sun"]
    inputs = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) for _ in range(5)]
    steps = pre + [Step(op, phrase, lambda e: e, count)]
    return Spec("dict", level, [*params, [op]], "tally", "s", doc, "return " + template.format(e=expr), _run(steps), inputs)


def parse(rng: random.Random, level: int) -> Spec:
    """Parse comma-separated ints, then ``level - 1`` list steps."""
    first = Step("parse", "parse the comma-separated integers in s into a list",
                 lambda e: f'[int(t) for t in {e}.split(",")]', lambda t: [int(v) for v in t.split(",")])
    rest, params = _chain(rng, level - 1, _list_step)
    steps = [first, *rest]
    inputs = [",".join(str(v) for v in _random_ints(rng, lo=1)) for _ in range(5)]
    return Spec("parse", level, [["parse"], *params], "parse", "s",
                f"Take the string s, {_then([s.phrase for s in steps])}. Return the result.",
                f"return {_compose_postfix('s', steps)}", _run(steps), inputs)


FAMILIES: dict[str, tuple[Callable[[random.Random, int], Spec], int]] = {
    # name: (builder, highest level it supports)
    "arith": (arith, 4),
    "list": (lists, 4),
    "string": (strings, 4),
    "dict": (dicts, 2),
    "parse": (parse, 4),
}
