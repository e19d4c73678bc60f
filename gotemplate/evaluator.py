"""Evaluator: walks parse trees the way Go's text/template executes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gotemplate.errors import ExecError, TemplateError
from gotemplate.funcs import Func, FuncTable
from gotemplate.gofmt import format_value
from gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
)
from gotemplate.source import Source
from gotemplate.values import (
    ANY,
    BOOL,
    FLOAT64,
    INT,
    INT64,
    MISSING,
    NILLABLE,
    STRING,
    VALUE,
    GoObject,
    Int64,
    assignable,
    go_type,
    truth,
)

MAX_DEPTH = 100


class _NoFinal:
    """Go's missingVal: the command has no value piped into it."""


NO_FINAL = _NoFinal()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class State:
    """Executes one template; ``include``/``tpl`` start nested states on the same set."""

    def __init__(self, templates: dict[str, Tree], funcs: FuncTable, tree: Tree, depth: int, host: Any) -> None:
        self.templates = templates
        self.funcs = funcs
        self.tree = tree
        self.depth = depth
        self.host = host  # the renderer: environment, files, tpl
        self.vars: list[list[Any]] = []
        self.out: list[str] = []
        self.size = 0  # characters written so far
        self.spans: list[tuple[int, Source, int, bool]] = []  # (offset, source, pos, is text)
        self.node: Node | None = None

    # --- errors -------------------------------------------------------------------------------
    def error(self, message: str, node: Node | None = None, function: str | None = None) -> TemplateError:
        at = node or self.node
        line = column = None
        if at is not None:
            line, column = self.tree.source.line_column(at.pos)
        return TemplateError(message, file=self.tree.source.file, line=line, column=column, function=function)

    # --- entry --------------------------------------------------------------------------------
    def run(self, dot: Any) -> str:
        if self.depth > MAX_DEPTH:
            raise self.error(f"exceeded maximum template depth ({MAX_DEPTH})")
        self.vars = [["$", dot]]
        self.walk(dot, self.tree.root)
        return "".join(self.out)

    # --- statements ---------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.node = node
        if isinstance(node, TextNode):
            self.write(node.text, node, True)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.write(self.printable(value, node), node, False)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, BranchNode):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break
        elif isinstance(node, ContinueNode):
            raise _Continue
        else:
            raise self.error(f"unknown node {type(node).__name__}", node)

    def write(self, text: str, node: Node, is_text: bool) -> None:
        """Append output, remembering which source position produced it (for error lines)."""
        if text:
            self.spans.append((self.size, self.tree.source, node.pos, is_text))
            self.out.append(text)
            self.size += len(text)

    def printable(self, value: Any, node: Node) -> str:
        if value is MISSING or value is None:
            return "<no value>"
        try:
            return format_value(value)
        except ExecError as exc:
            raise self.error(str(exc), node) from None

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        if truth(value):
            self.walk(dot if isinstance(node, IfNode) else value, node.body)
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_range(self, dot: Any, node: RangeNode) -> None:
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        inner = len(self.vars)
        items: Iterator[tuple[Any, Any]] | None = None
        if isinstance(value, list):
            items = iter(list(enumerate(value)))
            empty = not value
        elif isinstance(value, dict):
            from gotemplate.gofmt import _sort_key  # fmtsort order

            items = iter([(k, value[k]) for k in sorted(value, key=_sort_key)])
            empty = not value
        elif value is MISSING or value is None:
            empty = True
        else:
            self.node = node
            raise self.error(f"range can't iterate over {self.printable(value, node)}", node)
        if not empty and items is not None:
            try:
                for index, elem in items:
                    if node.pipe.decl:
                        self.vars[inner - 1][1] = elem
                    if len(node.pipe.decl) > 1:
                        self.vars[inner - 2][1] = index
                    try:
                        self.walk(elem, node.body)
                    except _Continue:
                        pass
                    finally:
                        del self.vars[inner:]
            except _Break:
                pass
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        tree = self.templates.get(node.name)
        if tree is None:
            raise self.error(f"template {node.name!r} not defined", node, "template")
        value = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        self.write(self.nested(tree, value), node, False)

    def nested(self, tree: Tree, dot: Any) -> str:
        state = State(self.templates, self.funcs, tree, self.depth + 1, self.host)
        return state.run(dot)

    # --- expressions --------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.node = pipe
        value: Any = NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # an interface{} holding nil: Go digs down to the invalid value
                value = MISSING
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.idents[0], value)
            else:
                self.vars.append([variable.idents[0], value])
        return value

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.error(f"undefined variable: {name}")

    def var_value(self, name: str, node: Node) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.error(f"undefined variable: {name}", node)

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final, first)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final, first)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.error("nil is not a command", first)
        if isinstance(first, NumberNode):
            return first.ideal
        if isinstance(first, StringNode):
            return first.text
        raise self.error(f"can't evaluate command {first}", first)

    def not_a_function(self, args: list[Any], final: Any, node: Node) -> None:
        if len(args) > 1 or final is not NO_FINAL:
            raise self.error(f"can't give argument to non-function {args[0]}", node)

    def eval_variable(self, dot: Any, node: VariableNode, args: list[Any] | None, final: Any) -> Any:
        value = self.var_value(node.idents[0], node)
        if len(node.idents) == 1:
            self.not_a_function(args or [node], final, node)
            return value
        return self.eval_field_chain(dot, value, node, node.idents[1:], args, final)

    def eval_chain(self, dot: Any, node: ChainNode, args: list[Any] | None, final: Any) -> Any:
        if isinstance(node.node, NilNode):
            raise self.error(f"indirection through explicit nil in {node}", node)
        receiver = self.eval_arg(dot, None, node.node)
        return self.eval_field_chain(dot, receiver, node, node.fields, args, final)

    def eval_field_chain(self, dot: Any, receiver: Any, node: Node, idents: list[str], args: list[Any] | None, final: Any) -> Any:
        for ident in idents[:-1]:
            receiver = self.eval_field(dot, ident, node, None, NO_FINAL, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(self, dot: Any, name: str, node: Node, args: list[Any] | None, final: Any, receiver: Any) -> Any:
        self.node = node
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.error(f"nil pointer evaluating interface {{}}.{name}", node)
        has_args = (args is not None and len(args) > 1) or final is not NO_FINAL
        if isinstance(receiver, GoObject):
            method = receiver.method(name)
            if method is not None:
                return self.call(dot, method, node, method.name, args, final)
            found, value = receiver.field(name)
            if found:
                if has_args:
                    raise self.error(f"{name} has arguments but cannot be invoked as function", node)
                return value
        elif isinstance(receiver, dict):
            if has_args:
                raise self.error(f"{name} is not a method but has arguments", node)
            return receiver.get(name, MISSING)
        raise self.error(f"can't evaluate field {name} in type {go_type(receiver)}", node)

    def eval_function(self, dot: Any, node: IdentifierNode, args: list[Any] | None, final: Any) -> Any:
        func = self.funcs.get(node.name)
        if func is None:
            raise self.error(f"function {node.name!r} not defined", node, node.name)
        return self.call(dot, func, node, node.name, args, final)

    def call(self, dot: Any, func: Func, node: Node, name: str, args: list[Any] | None, final: Any) -> Any:
        arg_nodes = list(args[1:]) if args else []
        count = len(arg_nodes) + (0 if final is NO_FINAL else 1)
        fixed = len(func.params)
        if func.variadic is not None:
            if count < fixed:
                raise self.error(f"wrong number of args for {name}: want at least {fixed} got {len(arg_nodes)}", node, name)
        elif count != fixed:
            raise self.error(f"wrong number of args for {name}: want {fixed} got {count}", node, name)
        if name in ("and", "or") and func.variadic == VALUE and not func.needs_state:
            return self.and_or(dot, name, arg_nodes, final)
        values: list[Any] = []
        try:
            for index, arg in enumerate(arg_nodes):
                param = func.params[index] if index < fixed else func.variadic
                values.append(self.eval_arg(dot, param, arg))
            if final is not NO_FINAL:
                param = func.params[count - 1] if count - 1 < fixed else func.variadic
                values.append(self.validate(final, param, node))
        except TemplateError as exc:
            if exc.function is not None:
                raise
            raise TemplateError(exc.reason, file=exc.file, line=exc.line, column=exc.column, function=name) from None
        self.node = node
        try:
            if func.needs_state:
                return func.impl(self, *values)
            return func.impl(*values)
        except ExecError as exc:
            raise self.error(str(exc), node, name) from None
        except TemplateError:
            raise
        except RecursionError:
            raise self.error("exceeded maximum template depth", node, name) from None

    def and_or(self, dot: Any, name: str, arg_nodes: list[Any], final: Any) -> Any:
        value: Any = None
        for arg in arg_nodes:
            value = self.eval_arg(dot, VALUE, arg)
            if truth(value) == (name == "or"):
                return value
        if final is not NO_FINAL:
            value = self.validate(final, VALUE, None)
        return value

    def eval_arg(self, dot: Any, param: str | None, node: Any) -> Any:
        self.node = node
        if isinstance(node, DotNode):
            return self.validate(dot, param, node)
        if isinstance(node, NilNode):
            if param is None or param in NILLABLE:
                return None
            raise self.error(f"cannot assign nil to {param}", node)
        if isinstance(node, FieldNode):
            return self.validate(self.eval_field_chain(dot, dot, node, node.idents, [node], NO_FINAL), param, node)
        if isinstance(node, VariableNode):
            return self.validate(self.eval_variable(dot, node, None, NO_FINAL), param, node)
        if isinstance(node, PipeNode):
            return self.validate(self.eval_pipeline(dot, node), param, node)
        if isinstance(node, IdentifierNode):
            return self.validate(self.eval_function(dot, node, None, NO_FINAL), param, node)
        if isinstance(node, ChainNode):
            return self.validate(self.eval_chain(dot, node, None, NO_FINAL), param, node)
        if param is None or param in (ANY, VALUE):
            if isinstance(node, BoolNode):
                return node.value
            if isinstance(node, NumberNode):
                return node.ideal
            if isinstance(node, StringNode):
                return node.text
        elif param == BOOL:
            if isinstance(node, BoolNode):
                return node.value
            raise self.error(f"expected bool; found {node}", node)
        elif param in (INT, INT64):
            if isinstance(node, NumberNode) and node.is_int:
                return Int64(node.int_value) if param == INT64 else node.int_value
            raise self.error(f"expected integer; found {node}", node)
        elif param == FLOAT64:
            if isinstance(node, NumberNode) and node.is_float:
                return node.float_value
            raise self.error(f"expected float; found {node}", node)
        elif param == STRING:
            if isinstance(node, StringNode):
                return node.text
            raise self.error(f"expected string; found {node}", node)
        raise self.error(f"can't handle {node} for arg of type {param}", node)

    def validate(self, value: Any, param: str | None, node: Node | None) -> Any:
        if value is MISSING or value is None:
            if param is None or param in NILLABLE:
                return None
            raise self.error(f"invalid value; expected {param}", node)
        if param is not None and not assignable(value, param):
            raise self.error(f"wrong type for value; expected {param}; got {go_type(value)}", node)
        return value
