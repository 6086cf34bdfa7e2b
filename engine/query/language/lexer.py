"""The character-level half of the query parser: position, whitespace and comments, bare and
quoted text, and errors that point at the text to blame. Shared by the filter and stage grammars."""

from __future__ import annotations

from typing import NoReturn

from engine.query.errors import QueryError

# A bare word ends at whitespace or one of these (a `:` splits field and value instead).
DELIMS = set(' \t\r\n()|"')
KEYWORDS = {"and", "or", "not"}
# A quoted string opens with one of these: "double" and 'single' take backslash escapes,
# `backtick` takes none (LogsQL's three string literals).
QUOTES = "\"'`"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


class Scanner:
    def __init__(self, text: str):
        self.s = text
        self.i = 0
        self.n = len(text)

    def error(self, message: str, pos: int | None = None) -> NoReturn:
        raise QueryError(message, self.i if pos is None else pos)

    def ws(self) -> None:
        """Skip whitespace and comments: `#` then whitespace, up to the end of the line. (`#word`
        is neither a comment nor a word: `unary` refuses it, so that it never silently means one.)"""
        while True:
            while self.i < self.n and self.s[self.i].isspace():
                self.i += 1
            if self.peek() != "#" or not (self.i + 1 >= self.n or self.s[self.i + 1].isspace()):
                return
            end = self.s.find("\n", self.i)
            self.i = self.n if end < 0 else end

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def at_delim(self, k: int = 0) -> bool:
        j = self.i + k
        return j >= self.n or self.s[j] in DELIMS

    def bare(self) -> str:
        start = self.i
        while self.i < self.n and self.s[self.i] not in DELIMS:
            self.i += 1
        return self.s[start : self.i]

    def keyword_at(self) -> str | None:
        """The keyword (and/or/not) starting here, if the bare word here is one."""
        j = self.i
        while j < self.n and self.s[j] not in DELIMS:
            j += 1
        word = self.s[self.i : j].lower()
        return word if word in KEYWORDS else None

    def expect(self, ch: str, what: str) -> None:
        self.ws()
        if self.peek() != ch:
            self.error(f"expected {what}" + (f", found {self.peek()!r}" if self.peek() else " before the end"))
        self.i += 1

    def quoted(self, keep_escapes: bool = False) -> bytes:
        """The quoted string at the cursor (its quote is one of QUOTES). `\\n`, `\\t`, `\\r` are
        control characters and a backslash takes the next character as it is, unless
        `keep_escapes` (a regex): then only `\\\\` and the escaped quote lose their backslash."""
        start = self.i
        quote = self.s[self.i]
        self.i += 1
        out: list[str] = []
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\" and quote != "`" and self.i + 1 < self.n:
                nxt = self.s[self.i + 1]
                if keep_escapes:
                    out.append(nxt if nxt in (quote, "\\") else c + nxt)
                else:
                    out.append(_ESCAPES.get(nxt, nxt))
                self.i += 2
                continue
            if c == quote:
                self.i += 1
                return "".join(out).encode()
            out.append(c)
            self.i += 1
        self.error("unterminated quoted string", start)

    def end_of_value(self, what: str) -> None:
        """A value must be followed by whitespace, `)`, `|` or the end: `foo"bar"`, `"a"b` or
        `/re/x` would otherwise quietly become two filters."""
        c = self.peek()
        if c and not c.isspace() and c not in ")|":
            self.error(f"unexpected {c!r} right after {what}: put a space before it, or quote the whole value")

    def word_is(self, word: str) -> bool:
        """The keyword `word` (any case, a whole word) comes next, after whitespace."""
        self.ws()
        j = self.i + len(word)
        return self.s[self.i : j].lower() == word and (j >= self.n or not (self.s[j].isalnum() or self.s[j] == "_"))
