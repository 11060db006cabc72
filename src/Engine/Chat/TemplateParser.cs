namespace OpenAutoGlm.Engine.Chat;

/// <summary>Recursive-descent parser from tokens to statements, following Jinja's operator precedence.</summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> TestArgumentStops = ["and", "or", "else", "if", "in", "is", "not"];

    private readonly string _src;
    private readonly List<Token> _tokens;
    private int _i;

    private TemplateParser(string source, List<Token> tokens)
    {
        _src = source;
        _tokens = tokens;
    }

    public static List<Stmt> Parse(string normalizedSource)
    {
        var parser = new TemplateParser(normalizedSource, TemplateLexer.Tokenize(normalizedSource));
        return parser.ParseUntil([], out _);
    }

    private Token Peek => _tokens[_i];
    private Token PeekAt(int ahead) => _tokens[Math.Min(_i + ahead, _tokens.Count - 1)];
    private Token Next() => _tokens[_i++];

    private bool IsOp(string op) => Peek.Kind == TokenKind.Operator && Peek.Text == op;
    private bool IsName(string name) => Peek.Kind == TokenKind.Name && Peek.Text == name;

    private bool SkipOp(string op)
    {
        if (!IsOp(op)) return false;
        _i++;
        return true;
    }

    private bool SkipName(string name)
    {
        if (!IsName(name)) return false;
        _i++;
        return true;
    }

    private void ExpectOp(string op)
    {
        if (!SkipOp(op)) throw Error($"expected '{op}' but found {Describe(Peek)}", Peek.Offset);
    }

    private string ExpectName()
    {
        if (Peek.Kind != TokenKind.Name) throw Error($"expected a name but found {Describe(Peek)}", Peek.Offset);
        return Next().Text;
    }

    private void Expect(TokenKind kind)
    {
        if (Peek.Kind != kind) throw Error($"expected {Describe(kind)} but found {Describe(Peek)}", Peek.Offset);
        _i++;
    }

    private static string Describe(Token t) => t.Kind switch
    {
        TokenKind.Name or TokenKind.Operator or TokenKind.Integer or TokenKind.Float => $"'{t.Text}'",
        TokenKind.String => "a string",
        _ => Describe(t.Kind),
    };

    private static string Describe(TokenKind k) => k switch
    {
        TokenKind.BlockEnd => "'%}'",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.End => "the end of the template",
        TokenKind.Data => "text",
        _ => k.ToString(),
    };

    private ChatTemplateException Error(string message, int offset) => SourcePosition.Error(_src, message, offset);

    // ---------------------------------------------------------------- statements

    /// <summary>Parses statements until a block tag named in <paramref name="ends"/>; consumes that tag's opening and name.</summary>
    private List<Stmt> ParseUntil(string[] ends, out string endTag)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Peek;
            switch (t.Kind)
            {
                case TokenKind.Data:
                    _i++;
                    body.Add(new TextStmt(t.Offset, t.Text));
                    break;
                case TokenKind.VariableBegin:
                    _i++;
                    body.Add(new OutputStmt(t.Offset, ParseExpression()));
                    Expect(TokenKind.VariableEnd);
                    break;
                case TokenKind.BlockBegin:
                    var name = PeekAt(1);
                    if (name.Kind == TokenKind.Name && Array.IndexOf(ends, name.Text) >= 0)
                    {
                        _i += 2;
                        endTag = name.Text;
                        return body;
                    }
                    _i++;
                    ParseStatement(body);
                    break;
                case TokenKind.End:
                    if (ends.Length > 0) throw Error($"missing {{% {ends[^1]} %}}", t.Offset);
                    endTag = "";
                    return body;
                default:
                    throw Error($"unexpected {Describe(t)}", t.Offset);
            }
        }
    }

    private void ParseStatement(List<Stmt> into)
    {
        var tag = Peek;
        string name = ExpectName();
        switch (name)
        {
            case "if": into.Add(ParseIf(tag.Offset)); break;
            case "for": into.Add(ParseFor(tag.Offset)); break;
            case "set": into.Add(ParseSet(tag.Offset)); break;
            case "macro": into.Add(ParseMacro(tag.Offset)); break;
            case "break" or "continue":
                Expect(TokenKind.BlockEnd);
                into.Add(new LoopControlStmt(tag.Offset, name == "break"));
                break;
            case "generation":
                // HF's marker for assistant-token masks: rendering ignores it.
                Expect(TokenKind.BlockEnd);
                into.AddRange(ParseUntil(["endgeneration"], out _));
                Expect(TokenKind.BlockEnd);
                break;
            default: throw Error($"unknown tag '{name}'", tag.Offset);
        }
    }

    private IfStmt ParseIf(int offset)
    {
        var branches = new List<(Expr, List<Stmt>)>();
        List<Stmt>? elseBody = null;
        var condition = ParseExpression();
        while (true)
        {
            Expect(TokenKind.BlockEnd);
            var body = ParseUntil(["elif", "else", "endif"], out string end);
            branches.Add((condition, body));
            if (end == "elif") { condition = ParseExpression(); continue; }
            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                elseBody = ParseUntil(["endif"], out _);
            }
            Expect(TokenKind.BlockEnd);
            return new IfStmt(offset, branches, elseBody);
        }
    }

    private ForStmt ParseFor(int offset)
    {
        var targets = new List<string> { ExpectName() };
        while (SkipOp(",")) targets.Add(ExpectName());
        if (!SkipName("in")) throw Error($"expected 'in' but found {Describe(Peek)}", Peek.Offset);
        var iterable = ParseExpression(withConditional: false);
        var filter = SkipName("if") ? ParseExpression(withConditional: false) : null;
        if (IsName("recursive")) throw Error("recursive loops are not supported", Peek.Offset);
        Expect(TokenKind.BlockEnd);
        var body = ParseUntil(["else", "endfor"], out string end);
        List<Stmt>? elseBody = null;
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseUntil(["endfor"], out _);
        }
        Expect(TokenKind.BlockEnd);
        return new ForStmt(offset, targets, iterable, filter, body, elseBody);
    }

    private SetStmt ParseSet(int offset)
    {
        var targets = new List<string> { ExpectName() };
        string? attribute = null;
        if (SkipOp(".")) attribute = ExpectName();
        else while (SkipOp(",")) targets.Add(ExpectName());
        if (SkipOp("="))
        {
            var value = ParseTupleOrExpression();
            Expect(TokenKind.BlockEnd);
            return new SetStmt(offset, targets, attribute, value, null);
        }
        if (attribute is not null || targets.Count > 1) throw Error("a set block assigns one plain name", offset);
        Expect(TokenKind.BlockEnd);
        var body = ParseUntil(["endset"], out _);
        Expect(TokenKind.BlockEnd);
        return new SetStmt(offset, targets, null, null, body);
    }

    private MacroStmt ParseMacro(int offset)
    {
        string name = ExpectName();
        var parameters = new List<(string, Expr?)>();
        ExpectOp("(");
        while (!SkipOp(")"))
        {
            if (parameters.Count > 0) ExpectOp(",");
            if (SkipOp(")")) break;
            string p = ExpectName();
            parameters.Add((p, SkipOp("=") ? ParseExpression() : null));
        }
        Expect(TokenKind.BlockEnd);
        var body = ParseUntil(["endmacro"], out _);
        Expect(TokenKind.BlockEnd);
        return new MacroStmt(offset, name, parameters, body);
    }

    // ---------------------------------------------------------------- expressions

    /// <summary><c>a, b</c> without brackets (as in <c>set x = a, b</c>) builds a list.</summary>
    private Expr ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!IsOp(",")) return first;
        var items = new List<Expr> { first };
        while (SkipOp(",")) items.Add(ParseExpression());
        return new ListExpr(first.Offset, items);
    }

    private Expr ParseExpression(bool withConditional = true)
    {
        var expr = ParseOr();
        while (withConditional && IsName("if"))
        {
            int offset = Next().Offset;
            var condition = ParseOr();
            var otherwise = SkipName("else") ? ParseExpression() : null;
            expr = new ConditionalExpr(offset, expr, condition, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (IsName("or")) left = new BinaryExpr(Next().Offset, "or", left, ParseAnd());
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (IsName("and")) left = new BinaryExpr(Next().Offset, "and", left, ParseNot());
        return left;
    }

    private Expr ParseNot()
    {
        if (IsName("not")) return new UnaryExpr(Next().Offset, "not", ParseNot());
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var left = ParseMath1();
        Expr? chain = null;
        while (true)
        {
            int offset = Peek.Offset;
            string op;
            if (Peek.Kind == TokenKind.Operator && Peek.Text is "==" or "!=" or "<" or "<=" or ">" or ">=") op = Next().Text;
            else if (SkipName("in")) op = "in";
            else if (IsName("not") && PeekAt(1).Kind == TokenKind.Name && PeekAt(1).Text == "in") { _i += 2; op = "not in"; }
            else return chain ?? left;
            var right = ParseMath1();
            // Python chains a < b < c as (a < b) and (b < c).
            var comparison = new BinaryExpr(offset, op, left, right);
            chain = chain is null ? comparison : new BinaryExpr(offset, "and", chain, comparison);
            left = right;
        }
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Peek.Kind == TokenKind.Operator && Peek.Text is "+" or "-")
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, op.Text, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (IsOp("~")) left = new BinaryExpr(Next().Offset, "~", left, ParseMath2());
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Peek.Kind == TokenKind.Operator && Peek.Text is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Offset, op.Text, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (IsOp("**")) left = new BinaryExpr(Next().Offset, "**", left, ParseUnary(withFilter: true));
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Expr node;
        if (Peek.Kind == TokenKind.Operator && Peek.Text is "-" or "+")
        {
            var op = Next();
            node = new UnaryExpr(op.Offset, op.Text, ParseUnary(withFilter: false));
        }
        else node = ParsePostfix(ParsePrimary());
        return withFilter ? ParseFilters(node) : node;
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Text switch
                {
                    "true" or "True" => new LiteralExpr(t.Offset, true),
                    "false" or "False" => new LiteralExpr(t.Offset, false),
                    "none" or "None" => new LiteralExpr(t.Offset, null),
                    _ => new NameExpr(t.Offset, t.Text),
                };
            case TokenKind.String:
                string s = t.Text;
                while (Peek.Kind == TokenKind.String) s += Next().Text; // adjacent literals concatenate
                return new LiteralExpr(t.Offset, s);
            case TokenKind.Integer or TokenKind.Float:
                return new LiteralExpr(t.Offset, t.Value);
            case TokenKind.Operator when t.Text == "(":
                if (SkipOp(")")) return new ListExpr(t.Offset, []);
                var inner = ParseExpression();
                if (IsOp(","))
                {
                    var items = new List<Expr> { inner };
                    while (SkipOp(",") && !IsOp(")")) items.Add(ParseExpression());
                    inner = new ListExpr(t.Offset, items);
                }
                ExpectOp(")");
                return inner;
            case TokenKind.Operator when t.Text == "[":
                var list = new List<Expr>();
                while (!SkipOp("]"))
                {
                    if (list.Count > 0) ExpectOp(",");
                    if (SkipOp("]")) break;
                    list.Add(ParseExpression());
                }
                return new ListExpr(t.Offset, list);
            case TokenKind.Operator when t.Text == "{":
                var pairs = new List<(Expr, Expr)>();
                while (!SkipOp("}"))
                {
                    if (pairs.Count > 0) ExpectOp(",");
                    if (SkipOp("}")) break;
                    var key = ParseExpression();
                    ExpectOp(":");
                    pairs.Add((key, ParseExpression()));
                }
                return new DictExpr(t.Offset, pairs);
            default:
                throw Error($"unexpected {Describe(t)}", t.Offset);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Peek;
            if (SkipOp("."))
            {
                if (Peek.Kind == TokenKind.Integer) node = new ItemExpr(t.Offset, node, new LiteralExpr(Peek.Offset, Next().Value));
                else node = new AttributeExpr(t.Offset, node, ExpectName());
            }
            else if (SkipOp("[")) node = ParseSubscript(t.Offset, node);
            else if (SkipOp("(")) node = ParseCall(t.Offset, node);
            else return node;
        }
    }

    private Expr ParseSubscript(int offset, Expr target)
    {
        Expr? start = IsOp(":") ? null : ParseExpression();
        if (SkipOp("]")) return new ItemExpr(offset, target, start!);
        ExpectOp(":");
        Expr? stop = IsOp(":") || IsOp("]") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOp(":") && !IsOp("]")) step = ParseExpression();
        ExpectOp("]");
        return new SliceExpr(offset, target, start, stop, step);
    }

    private CallExpr ParseCall(int offset, Expr callee)
    {
        var (args, kwargs) = ParseArguments();
        return new CallExpr(offset, callee, args, kwargs);
    }

    /// <summary>Arguments after an opening parenthesis, through the closing one.</summary>
    private (List<Expr>, List<(string, Expr)>) ParseArguments()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!SkipOp(")"))
        {
            if (args.Count + kwargs.Count > 0) ExpectOp(",");
            if (SkipOp(")")) break;
            if (Peek.Kind == TokenKind.Name && PeekAt(1) is { Kind: TokenKind.Operator, Text: "=" })
            {
                string name = Next().Text;
                _i++;
                kwargs.Add((name, ParseExpression()));
            }
            else if (kwargs.Count > 0) throw Error("positional argument after keyword argument", Peek.Offset);
            else args.Add(ParseExpression());
        }
        return (args, kwargs);
    }

    private Expr ParseFilters(Expr node)
    {
        while (true)
        {
            var t = Peek;
            if (SkipOp("|"))
            {
                string name = ExpectName();
                var (args, kwargs) = SkipOp("(") ? ParseArguments() : ([], []);
                node = new FilterExpr(t.Offset, node, name, args, kwargs);
            }
            else if (SkipName("is"))
            {
                bool negated = SkipName("not");
                string name = ExpectName();
                List<Expr> args;
                if (SkipOp("(")) args = ParseArguments().Item1;
                else if (Peek.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || (Peek.Kind == TokenKind.Name && !TestArgumentStops.Contains(Peek.Text)))
                    args = [ParsePostfix(ParsePrimary())];
                else args = [];
                node = new TestExpr(t.Offset, node, name, args, negated);
            }
            else if (SkipOp("(")) node = ParseCall(t.Offset, node);
            else return node;
        }
    }
}
