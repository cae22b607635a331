"""Procedural bugs on the syntax tree, after SWE-smith's ``bug_gen/procedural`` set.

One class per technique, each with a ``likelihood`` (the chance it is tried on an eligible
function) and a ``min_complexity`` (a function simpler than that has too little structure for
the technique to make a plausible bug), all registered in ``MUTATIONS``. A mutation finds its
*sites* inside one function or class (``sites``) and rewrites one of them (``rewrite``);
libcst keeps every other byte of the file as it was, so the diff shows the bug only.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import libcst as cst
import libcst.matchers as m

Node = cst.CSTNode


def complexity(node: Node) -> int:
    """Cyclomatic-style count: 1 + branches, loops, handlers, boolean operators, comparisons."""
    count = [1]

    class _Count(cst.CSTVisitor):
        def on_visit(self, n: Node) -> bool:
            if isinstance(n, (cst.If, cst.For, cst.While, cst.ExceptHandler, cst.With, cst.IfExp,
                              cst.BooleanOperation, cst.Comparison, cst.CompFor)):
                count[0] += 1
            return True

    node.visit(_Count())
    return count[0]


def _collect(root: Node, pred: Callable[[Node], bool]) -> list[Node]:
    found: list[Node] = []

    class _Find(cst.CSTVisitor):
        def on_visit(self, n: Node) -> bool:
            if n is not root and isinstance(n, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                return False  # a nested definition is its own target
            if pred(n):
                found.append(n)
            return True

    root.visit(_Find())
    return found


class Mutation:
    """A technique: ``sites`` in a target, ``rewrite`` of one site (None: not applicable)."""

    name = ""
    likelihood = 1.0
    min_complexity = 1
    kinds: tuple[type, ...] = (cst.FunctionDef,)

    def sites(self, target: Node) -> list[Node]:
        return _collect(target, self.eligible)

    def eligible(self, node: Node) -> bool:
        raise NotImplementedError

    def rewrite(self, node: Node, rng: random.Random):
        raise NotImplementedError


def _block_stmts(node: Node) -> list[Node]:
    """The statements of a function's or class's own indented body ([] for a one-line body)."""
    return list(node.body.body) if isinstance(getattr(node, "body", None), cst.IndentedBlock) else []


class InvertIf(Mutation):
    name, likelihood, min_complexity = "invert_if", 1.0, 2

    def eligible(self, node):
        return isinstance(node, cst.If) and isinstance(node.orelse, cst.Else)

    def rewrite(self, node, rng):
        return node.with_changes(body=node.orelse.body, orelse=node.orelse.with_changes(body=node.body))


class ShuffleStatements(Mutation):
    name, likelihood, min_complexity = "shuffle_statements", 0.5, 3

    def sites(self, target):
        return [target] if len(_block_stmts(target)) >= 3 else []

    def rewrite(self, node, rng):
        stmts = list(node.body.body)
        head = stmts[:1] if m.matches(stmts[0], m.SimpleStatementLine([m.Expr(m.SimpleString())])) else []
        rest = stmts[len(head):]
        shuffled = rest[:]
        for _ in range(5):
            rng.shuffle(shuffled)
            if [id(s) for s in shuffled] != [id(s) for s in rest]:
                return node.with_changes(body=node.body.with_changes(body=head + shuffled))
        return None


class _Remove(Mutation):
    """Remove one statement of a kind from a block that keeps at least one other statement."""

    def sites(self, target):
        out = []
        for block in _collect(target, lambda n: isinstance(n, cst.IndentedBlock)):
            if len(block.body) > 1:
                out += [s for s in block.body if self.eligible(s)]
        return out

    def rewrite(self, node, rng):
        return cst.RemoveFromParent()


class RemoveAssignment(_Remove):
    name, likelihood, min_complexity = "remove_assignment", 0.5, 2

    def eligible(self, node):
        return m.matches(node, m.SimpleStatementLine([m.OneOf(m.Assign(), m.AugAssign(), m.AnnAssign())]))


class RemoveCondition(_Remove):
    name, likelihood, min_complexity = "remove_condition", 0.5, 2

    def eligible(self, node):
        return isinstance(node, cst.If)


class RemoveLoop(_Remove):
    name, likelihood, min_complexity = "remove_loop", 0.5, 2

    def eligible(self, node):
        return isinstance(node, (cst.For, cst.While))


class RemoveWrapper(Mutation):
    """``with``/``try`` replaced by its body: the context or the handler is gone."""

    name, likelihood, min_complexity = "remove_wrapper", 0.5, 2

    def eligible(self, node):
        return isinstance(node, (cst.With, cst.Try)) and isinstance(node.body, cst.IndentedBlock)

    def rewrite(self, node, rng):
        return cst.FlattenSentinel(list(node.body.body))


_BINOPS = {cst.Add: cst.Subtract, cst.Subtract: cst.Add, cst.Multiply: cst.FloorDivide,
           cst.FloorDivide: cst.Multiply, cst.Divide: cst.Multiply, cst.Modulo: cst.FloorDivide,
           cst.BitAnd: cst.BitOr, cst.BitOr: cst.BitAnd, cst.LeftShift: cst.RightShift,
           cst.RightShift: cst.LeftShift}
_CMPOPS = {cst.LessThan: cst.LessThanEqual, cst.LessThanEqual: cst.LessThan,
           cst.GreaterThan: cst.GreaterThanEqual, cst.GreaterThanEqual: cst.GreaterThan,
           cst.Equal: cst.NotEqual, cst.NotEqual: cst.Equal, cst.In: cst.NotIn, cst.NotIn: cst.In,
           cst.Is: cst.IsNot, cst.IsNot: cst.Is}


class ChangeOperator(Mutation):
    name, likelihood, min_complexity = "change_operator", 1.0, 1

    def eligible(self, node):
        return ((isinstance(node, cst.BinaryOperation) and type(node.operator) in _BINOPS)
                or (isinstance(node, cst.Comparison) and len(node.comparisons) == 1
                    and type(node.comparisons[0].operator) in _CMPOPS)
                or isinstance(node, cst.BooleanOperation))

    def rewrite(self, node, rng):
        if isinstance(node, cst.BinaryOperation):
            op = node.operator
            return node.with_changes(operator=_BINOPS[type(op)](whitespace_before=op.whitespace_before,
                                                                whitespace_after=op.whitespace_after))
        if isinstance(node, cst.BooleanOperation):
            op = node.operator
            new = cst.Or if isinstance(op, cst.And) else cst.And
            return node.with_changes(operator=new(whitespace_before=op.whitespace_before,
                                                  whitespace_after=op.whitespace_after))
        target = node.comparisons[0]
        op = target.operator
        kw = {"whitespace_before": op.whitespace_before, "whitespace_after": op.whitespace_after}
        new_type = _CMPOPS[type(op)]
        if new_type in (cst.NotIn, cst.IsNot):
            kw["whitespace_between"] = cst.SimpleWhitespace(" ")
        if type(op) in (cst.NotIn, cst.IsNot):
            kw = {"whitespace_before": op.whitespace_before, "whitespace_after": op.whitespace_after}
        return node.with_changes(comparisons=[target.with_changes(operator=new_type(**kw))])


class SwapOperands(Mutation):
    name, likelihood, min_complexity = "swap_operands", 1.0, 1

    def eligible(self, node):
        return ((isinstance(node, cst.BinaryOperation) and not isinstance(node.operator, (cst.Add, cst.Multiply)))
                or (isinstance(node, cst.Comparison) and len(node.comparisons) == 1
                    and not isinstance(node.comparisons[0].operator, (cst.Equal, cst.NotEqual, cst.Is, cst.IsNot))))

    def rewrite(self, node, rng):
        if isinstance(node, cst.BinaryOperation):
            return node.with_changes(left=node.right, right=node.left)
        comp = node.comparisons[0]
        return node.with_changes(left=comp.comparator, comparisons=[comp.with_changes(comparator=node.left)])


class BreakChain(Mutation):
    """``a and b`` -> ``a`` (one side dropped); ``a < b < c`` -> ``a < b``."""

    name, likelihood, min_complexity = "break_chain", 1.0, 2

    def eligible(self, node):
        return isinstance(node, cst.BooleanOperation) or (isinstance(node, cst.Comparison) and len(node.comparisons) > 1)

    def rewrite(self, node, rng):
        if isinstance(node, cst.BooleanOperation):
            keep = node.left if rng.random() < 0.5 else node.right
            return keep.with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else keep
        cut = rng.randrange(1, len(node.comparisons))
        return node.with_changes(comparisons=node.comparisons[:cut])


class ChangeConstant(Mutation):
    name, likelihood, min_complexity = "change_constant", 1.0, 1

    def eligible(self, node):
        return isinstance(node, cst.Integer)

    def rewrite(self, node, rng):
        value = int(node.value, 0)
        return node.with_changes(value=str(value + 1 if value == 0 or rng.random() < 0.5 else value - 1))


class OffByOne(Mutation):
    """The stop of a ``range(...)`` or the bound of a slice moved by one."""

    name, likelihood, min_complexity = "off_by_one", 1.0, 1

    def eligible(self, node):
        return (m.matches(node, m.Call(func=m.Name("range"))) and 1 <= len(node.args) <= 3
                and not node.args[0].star) or (isinstance(node, cst.Slice) and (node.upper or node.lower) is not None)

    def rewrite(self, node, rng):
        op = cst.Add() if rng.random() < 0.5 else cst.Subtract()
        shift = lambda e: cst.BinaryOperation(left=e, operator=op, right=cst.Integer("1"))  # noqa: E731
        if isinstance(node, cst.Call):
            i = 0 if len(node.args) == 1 else 1
            args = list(node.args)
            args[i] = args[i].with_changes(value=shift(args[i].value))
            return node.with_changes(args=args)
        if node.upper is not None:
            return node.with_changes(upper=shift(node.upper))
        return node.with_changes(lower=shift(node.lower))


class RemoveBaseClass(Mutation):
    name, likelihood, min_complexity = "remove_base_class", 0.5, 1
    kinds = (cst.ClassDef,)

    def sites(self, target):
        return [target] if any(not a.keyword for a in target.bases) else []

    def rewrite(self, node, rng):
        bases = [a for a in node.bases if not a.keyword]
        drop = rng.choice(bases)
        kept = [a for a in node.bases if a is not drop]
        if kept:
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return node.with_changes(bases=kept, lpar=node.lpar if kept or node.keywords else cst.MaybeSentinel.DEFAULT,
                                 rpar=node.rpar if kept or node.keywords else cst.MaybeSentinel.DEFAULT)


def _methods(cls: cst.ClassDef) -> list[cst.FunctionDef]:
    return [s for s in cls.body.body if isinstance(s, cst.FunctionDef)] if isinstance(cls.body, cst.IndentedBlock) else []


class RemoveMethod(Mutation):
    name, likelihood, min_complexity = "remove_method", 0.3, 1
    kinds = (cst.ClassDef,)

    def sites(self, target):
        return [f for f in _methods(target) if not f.name.value.startswith("__")] if len(target.body.body) > 1 else []

    def rewrite(self, node, rng):
        return cst.RemoveFromParent()


class ShuffleMethods(Mutation):
    name, likelihood, min_complexity = "shuffle_methods", 0.2, 1
    kinds = (cst.ClassDef,)

    def sites(self, target):
        return [target] if len(_methods(target)) >= 2 else []

    def rewrite(self, node, rng):
        stmts = list(node.body.body)
        idx = [i for i, s in enumerate(stmts) if isinstance(s, cst.FunctionDef)]
        order = idx[:]
        rng.shuffle(order)
        if order == idx:
            return None
        new = stmts[:]
        for dst, src in zip(idx, order):
            new[dst] = stmts[src]
        return node.with_changes(body=node.body.with_changes(body=new))


MUTATIONS: list[Mutation] = [
    InvertIf(), ShuffleStatements(), RemoveAssignment(), RemoveCondition(), RemoveLoop(), RemoveWrapper(),
    ChangeOperator(), SwapOperands(), BreakChain(), ChangeConstant(), OffByOne(),
    RemoveBaseClass(), RemoveMethod(), ShuffleMethods(),
]
BY_NAME = {mu.name: mu for mu in MUTATIONS}


def _path_to(root: Node, site: Node) -> list[Node]:
    """Nodes from ``root`` down to ``site`` (both included); [] when ``site`` is not under it."""
    stack: list[Node] = []
    found: list[Node] = []

    class _Find(cst.CSTVisitor):
        def on_visit(self, n):
            if found:
                return False
            stack.append(n)
            if n is site:
                found.extend(stack)
                return False
            return True

        def on_leave(self, n):
            if stack and stack[-1] is n:
                stack.pop()

    root.visit(_Find())
    return found


class _ReplaceOne(cst.CSTTransformer):
    """Rewrite ``site``, descending only along ``path`` (the rest of the tree is kept as is:
    a whole-module transform per candidate would dominate generation time)."""

    def __init__(self, site: Node, new, path: list[Node]):
        super().__init__()
        self.site, self.new, self.done = site, new, False
        self.path = {id(n) for n in path}

    def on_visit(self, node) -> bool:
        return id(node) in self.path and super().on_visit(node)

    def on_leave(self, original_node, updated_node):
        if original_node is self.site:
            self.done = True
            return self.new(updated_node)
        return super().on_leave(original_node, updated_node)


def apply(module: cst.Module, mutation: Mutation, target: Node, rng: random.Random,
          ancestors: list[Node] | None = None, source: str | None = None) -> str | None:
    """The module's code with one site of ``target`` rewritten by ``mutation`` (None: no site,
    no change, or code that does not compile). ``ancestors``: the nodes from the module down to
    ``target``'s parent; with them (and the module's ``source`` text) only the top-level
    statement holding the target is rebuilt and rendered, and spliced into the text."""
    sites = mutation.sites(target)
    if not sites:
        return None
    site = rng.choice(sites)
    new = [None]

    def make(updated):
        new[0] = mutation.rewrite(updated, rng)
        return updated if new[0] is None else new[0]

    source = module.code if source is None else source
    try:
        if ancestors:
            top = ancestors[1] if len(ancestors) > 1 else target
            old_text = module.code_for_node(top)
            new_top = top.visit(_ReplaceOne(site, make, ancestors[1:] + _path_to(target, site)))
            if new[0] is None or source.count(old_text) != 1:
                return None
            code = source.replace(old_text, module.code_for_node(new_top), 1)
        else:
            code = module.visit(_ReplaceOne(site, make, _path_to(module, site))).code
    except Exception:  # noqa: BLE001 -- a rewrite libcst refuses (invalid tree) is just not a candidate
        return None
    if new[0] is None or code == source:
        return None
    try:
        compile(code, "<mutant>", "exec")  # parse only; nothing of the repository runs here
    except (SyntaxError, ValueError):
        return None
    return code
