"""Parser: tokens → trees, with Go's checks (defined functions, declared variables)."""

from __future__ import annotations

from collections.abc import Container

from gotemplate import literals
from gotemplate.lexer import Kind, Token, tokenize
from gotemplate.nodes import (
    ActionNode,
    BoolNode,
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
    Operand,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
    is_empty_tree,
)
from gotemplate.source import Source, SyntaxProblem

_OPERAND_START = frozenset(
    {
        Kind.BOOL,
        Kind.CHAR_CONSTANT,
        Kind.DOT,
        Kind.FIELD,
        Kind.IDENTIFIER,
        Kind.NUMBER,
        Kind.NIL,
        Kind.RAW_STRING,
        Kind.STRING,
        Kind.VARIABLE,
        Kind.LEFT_PAREN,
    }
)


class _End(Node):
    pass


class _Else(Node):
    pass


def parse(source: Source, functions: Container[str]) -> list[Tree]:
    """Parse one source into its trees: the main one (named ``source.name``) first, then defines."""
    parser = _Parser(source, tokenize(source), functions)
    return parser.parse()


class _Parser:
    def __init__(self, source: Source, tokens: list[Token], functions: Container[str]) -> None:
        self.source = source
        self.tokens = tokens
        self.index = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defined: dict[str, Tree] = {}

    # --- token access ------------------------------------------------------------------------
    def next(self) -> Token:
        token = self.tokens[self.index]
        if self.index < len(self.tokens) - 1:
            self.index += 1
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Token:
        return self.tokens[self.index]

    def next_non_space(self) -> Token:
        token = self.next()
        while token.kind is Kind.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.next_non_space()
        if token.kind is not kind:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: Token, context: str) -> None:
        raise SyntaxProblem(f"unexpected {token.describe()} in {context}", token.pos)

    def error(self, message: str, pos: int) -> None:
        raise SyntaxProblem(message, pos)

    # --- structure -----------------------------------------------------------------------------
    def parse(self) -> list[Tree]:
        root = ListNode(0)
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT:
                saved = self.index
                self.next()
                token = self.next_non_space()
                if token.kind is Kind.KEYWORD and token.value == "define":
                    self.definition()
                    continue
                self.index = saved
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                self.error(f"unexpected {{{{{'end' if isinstance(node, _End) else 'else'}}}}}", node.pos)
            root.nodes.append(node)
        self.add_tree(Tree(self.source.name, root, self.source), root.pos)
        return list(self.defined.values())

    def add_tree(self, tree: Tree, pos: int) -> None:
        """Go's Tree.add: in one parse, a second non-empty definition of a name is an error."""
        existing = self.defined.get(tree.name)
        if existing is None or is_empty_tree(existing.root):
            self.defined[tree.name] = tree
        elif not is_empty_tree(tree.root):
            self.error(f"template: multiple definition of template {tree.name!r}", pos)

    def definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            self.unexpected(token, context)
        name = self.unquote(token)
        self.expect(Kind.RIGHT, context)
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        if not isinstance(end, _End):
            self.error(f"unexpected {{{{else}}}} in {context}", end.pos)
        self.vars = saved_vars
        self.add_tree(Tree(name, body, self.source), token.pos)

    def item_list(self) -> tuple[ListNode, Node]:
        body = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, (_End, _Else)):
                return body, node
            body.nodes.append(node)
        self.error("unexpected EOF", self.peek().pos)
        raise AssertionError

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return TextNode(token.pos, token.value)
        if token.kind is Kind.LEFT:
            return self.action()
        self.unexpected(token, "input")
        raise AssertionError

    def action(self) -> Node:
        token = self.next_non_space()
        if token.kind is Kind.KEYWORD:
            word = token.value
            if word == "block":
                return self.block_control(token)
            if word in ("break", "continue"):
                return self.loop_control(token)
            if word == "else":
                return self.else_control(token)
            if word == "end":
                self.expect(Kind.RIGHT, "end")
                return _End(token.pos)
            if word == "if":
                return self.branch(IfNode, token, "if", allow_else_if=True)
            if word == "range":
                return self.branch(RangeNode, token, "range")
            if word == "template":
                return self.template_control(token)
            if word == "with":
                return self.branch(WithNode, token, "with")
            if word == "define":
                self.error("unexpected <define> in command", token.pos)
        self.backup()
        pipe = self.pipeline("command", Kind.RIGHT)
        return ActionNode(token.pos, pipe)

    def loop_control(self, token: Token) -> Node:
        after = self.next_non_space()
        if after.kind is not Kind.RIGHT:
            self.unexpected(after, f"{{{{{token.value}}}}}")
        if self.range_depth == 0:
            self.error(f"{{{{{token.value}}}}} outside {{{{range}}}}", token.pos)
        return BreakNode(token.pos) if token.value == "break" else ContinueNode(token.pos)

    def else_control(self, token: Token) -> Node:
        after = self.peek_non_space()
        if after.kind is Kind.KEYWORD and after.value == "if":
            return _Else(token.pos)
        self.expect(Kind.RIGHT, "else")
        return _Else(token.pos)

    def branch(
        self, cls: type[IfNode] | type[RangeNode] | type[WithNode], token: Token, context: str, allow_else_if: bool = False
    ) -> Node:
        mark = len(self.vars)
        pipe = self.pipeline(context, Kind.RIGHT)
        if context == "range":
            self.range_depth += 1
        body, end = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: ListNode | None = None
        if isinstance(end, _Else):
            after = self.peek_non_space()
            if allow_else_if and after.kind is Kind.KEYWORD and after.value == "if":
                if_token = self.next_non_space()
                else_body = ListNode(end.pos, [self.branch(IfNode, if_token, "if", allow_else_if=True)])
            else:
                else_body, end = self.item_list()
                if not isinstance(end, _End):
                    self.error("expected end; found {{else}}", end.pos)
        del self.vars[mark:]
        return cls(token.pos, pipe, body, else_body)

    def template_control(self, token: Token) -> Node:
        context = "template clause"
        name_token = self.next_non_space()
        if name_token.kind not in (Kind.STRING, Kind.RAW_STRING):
            self.unexpected(name_token, context)
        name = self.unquote(name_token)
        pipe = None
        if self.next_non_space().kind is not Kind.RIGHT:
            self.backup()
            pipe = self.pipeline(context, Kind.RIGHT)
        return TemplateNode(token.pos, name, pipe)

    def block_control(self, token: Token) -> Node:
        context = "block clause"
        name_token = self.next_non_space()
        if name_token.kind not in (Kind.STRING, Kind.RAW_STRING):
            self.unexpected(name_token, context)
        name = self.unquote(name_token)
        pipe = self.pipeline(context, Kind.RIGHT)
        saved_vars, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        if not isinstance(end, _End):
            self.error(f"unexpected {{{{else}}}} in {context}", end.pos)
        self.vars = saved_vars
        self.add_tree(Tree(name, body, self.source), token.pos)
        return TemplateNode(token.pos, name, pipe)

    # --- pipelines -----------------------------------------------------------------------------
    def pipeline(self, context: str, end: Kind) -> PipeNode:
        pipe = PipeNode(self.peek_non_space().pos)
        while True:
            saved = self.index
            token = self.next_non_space()
            if token.kind is not Kind.VARIABLE:
                self.index = saved
                break
            following = self.peek_non_space()
            if following.kind in (Kind.ASSIGN, Kind.DECLARE):
                pipe.is_assign = following.kind is Kind.ASSIGN
                self.next_non_space()
                if pipe.is_assign and token.value not in self.vars:
                    self.error(f"undefined variable {token.value!r}", token.pos)
                pipe.decl.append(VariableNode(token.pos, [token.value]))
                self.vars.append(token.value)
                break
            if following.kind is Kind.CHAR and following.value == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(token.pos, [token.value]))
                self.vars.append(token.value)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in (Kind.VARIABLE, Kind.RIGHT, Kind.RIGHT_PAREN):
                        continue
                    self.error("range can only initialize variables", following.pos)
                self.error(f"too many declarations in {context}", following.pos)
            self.index = saved  # not a declaration: put the variable back
            break
        while True:
            token = self.next_non_space()
            if token.kind is end:
                self.check_pipeline(pipe, context, token)
                return pipe
            if token.kind in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str, token: Token) -> None:
        if not pipe.cmds:
            self.error(f"missing value for {context}", token.pos)
        for number, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                self.error(f"non executable command in pipeline stage {number}", cmd.pos)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT, Kind.RIGHT_PAREN):
                self.backup()
            elif token.kind is not Kind.PIPE:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.error("empty command", cmd.pos)
        return cmd

    def operand(self) -> Operand | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind is Kind.FIELD:
            fields: list[str] = []
            while self.peek().kind is Kind.FIELD:
                fields.append(self.next().value[1:])
            if isinstance(node, FieldNode):
                return FieldNode(node.pos, node.idents + fields)
            if isinstance(node, VariableNode):
                return VariableNode(node.pos, node.idents + fields)
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                self.error(f"unexpected . after term {str(node)!r}", node.pos)
            return ChainNode(node.pos, node, fields)
        return node

    def term(self) -> Operand | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.IDENTIFIER:
            if token.value not in self.functions:
                raise SyntaxProblem(f"function {token.value!r} not defined", token.pos, token.value)
            return IdentifierNode(token.pos, token.value)
        if kind is Kind.DOT:
            return DotNode(token.pos)
        if kind is Kind.NIL:
            return NilNode(token.pos)
        if kind is Kind.VARIABLE:
            parts = token.value.split(".")
            if parts[0] not in self.vars:
                self.error(f"undefined variable {parts[0]!r}", token.pos)
            return VariableNode(token.pos, parts)
        if kind is Kind.FIELD:
            return FieldNode(token.pos, [token.value[1:]])
        if kind is Kind.BOOL:
            return BoolNode(token.pos, token.value == "true")
        if kind in (Kind.NUMBER, Kind.CHAR_CONSTANT):
            try:
                return literals.number(token.pos, token.value, kind is Kind.CHAR_CONSTANT)
            except ValueError as exc:
                self.error(str(exc), token.pos)
        if kind is Kind.LEFT_PAREN:
            pipe = self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
            pipe.pos = token.pos
            return pipe
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return StringNode(token.pos, token.value, self.unquote(token))
        self.backup()
        return None

    def unquote(self, token: Token) -> str:
        try:
            return literals.unquote(token.value)
        except ValueError:
            self.error(f"invalid syntax in {token.value}", token.pos)
            raise AssertionError from None
