using System.Globalization;
using System.Text;

namespace OpenAutoGlm.Engine.Chat;

/// <summary>A failure inside a filter, test, method or function; the renderer adds the template position.</summary>
internal sealed class TemplateError(string message) : Exception(message);

/// <summary>Walks the statement tree with Jinja's scoping: loops and macros get their own scope, if blocks do not.</summary>
internal sealed class TemplateRenderer
{
    private enum Flow { Normal, Break, Continue }

    private sealed class Scope(Scope? parent)
    {
        public readonly Dictionary<string, object?> Variables = [];

        public bool TryGet(string name, out object? value)
        {
            for (var s = this; s is not null; s = s.Parent)
                if (s.Variables.TryGetValue(name, out value)) return true;
            value = null;
            return false;
        }

        private Scope? Parent { get; } = parent;
    }

    private readonly string _src;

    private TemplateRenderer(string source) => _src = source;

    public static string Render(string source, List<Stmt> body, Dictionary<string, object?> context)
    {
        var globals = new Scope(null);
        foreach (var (k, v) in context) globals.Variables[k] = v;
        var renderer = new TemplateRenderer(source);
        var output = new StringBuilder();
        renderer.Execute(body, new Scope(globals), output);
        return output.ToString();
    }

    // ---------------------------------------------------------------- statements

    private Flow Execute(List<Stmt> body, Scope scope, StringBuilder output)
    {
        foreach (var stmt in body)
        {
            switch (stmt)
            {
                case TextStmt t:
                    output.Append(t.Text);
                    break;
                case OutputStmt o:
                    output.Append(PyValue.Str(Eval(o.Value, scope)));
                    break;
                case IfStmt i:
                    var branch = i.Else;
                    foreach (var (condition, b) in i.Branches)
                        if (PyValue.Truthy(Eval(condition, scope))) { branch = b; break; }
                    if (branch is not null && Execute(branch, scope, output) is var flow and not Flow.Normal) return flow;
                    break;
                case ForStmt f:
                    ExecuteFor(f, scope, output);
                    break;
                case SetStmt s:
                    ExecuteSet(s, scope);
                    break;
                case MacroStmt m:
                    scope.Variables[m.Name] = DefineMacro(m, scope);
                    break;
                case LoopControlStmt c:
                    return c.IsBreak ? Flow.Break : Flow.Continue;
            }
        }
        return Flow.Normal;
    }

    private void ExecuteFor(ForStmt f, Scope scope, StringBuilder output)
    {
        var iterable = Eval(f.Iterable, scope);
        var items = PyValue.Iterate(iterable)?.ToList()
            ?? throw Fail($"'{PyValue.TypeName(iterable)}' object is not iterable", f.Iterable.Offset);
        if (f.Filter is not null)
            items = items.Where(item => PyValue.Truthy(Eval(f.Filter, BindTargets(f, item, new Scope(scope))))).ToList();
        if (items.Count == 0)
        {
            if (f.Else is not null) Execute(f.Else, scope, output);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            var iteration = BindTargets(f, items[i], new Scope(scope));
            iteration.Variables["loop"] = new Dictionary<string, object?>
            {
                ["index0"] = (long)i,
                ["index"] = (long)(i + 1),
                ["revindex0"] = (long)(items.Count - 1 - i),
                ["revindex"] = (long)(items.Count - i),
                ["first"] = i == 0,
                ["last"] = i == items.Count - 1,
                ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : new Undefined("previtem"),
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : new Undefined("nextitem"),
            };
            if (Execute(f.Body, iteration, output) == Flow.Break) break;
        }
    }

    private Scope BindTargets(ForStmt f, object? item, Scope scope)
    {
        if (f.Targets.Count == 1) scope.Variables[f.Targets[0]] = item;
        else Unpack(f.Targets, item, scope, f.Offset);
        return scope;
    }

    private void Unpack(List<string> targets, object? value, Scope scope, int offset)
    {
        if (value is not List<object?> values || values.Count != targets.Count)
            throw Fail($"cannot unpack {PyValue.TypeName(value)} into {targets.Count} names", offset);
        for (int i = 0; i < targets.Count; i++) scope.Variables[targets[i]] = values[i];
    }

    private void ExecuteSet(SetStmt s, Scope scope)
    {
        object? value;
        if (s.Body is not null)
        {
            var captured = new StringBuilder();
            Execute(s.Body, scope, captured);
            value = captured.ToString();
        }
        else value = Eval(s.Value!, scope);

        if (s.Attribute is not null)
        {
            if (!scope.TryGet(s.Targets[0], out var target) || target is not Namespace ns)
                throw Fail($"cannot assign attribute '{s.Attribute}' on '{s.Targets[0]}': only namespace() objects accept attribute assignment", s.Offset);
            ns.Attributes[s.Attribute] = value;
        }
        else if (s.Targets.Count == 1) scope.Variables[s.Targets[0]] = value;
        else Unpack(s.Targets, value, scope, s.Offset);
    }

    private TemplateFunction DefineMacro(MacroStmt m, Scope definitionScope) => new(m.Name, (args, kwargs) =>
    {
        if (args.Count > m.Parameters.Count) throw new TemplateError($"macro '{m.Name}' takes {m.Parameters.Count} arguments but {args.Count} were given");
        var scope = new Scope(definitionScope);
        for (int i = 0; i < m.Parameters.Count; i++)
        {
            var (name, defaultValue) = m.Parameters[i];
            scope.Variables[name] = i < args.Count ? args[i]
                : kwargs.Remove(name, out var kw) ? kw
                : defaultValue is not null ? Eval(defaultValue, scope)
                : new Undefined(name);
        }
        if (kwargs.Count > 0) throw new TemplateError($"macro '{m.Name}' has no parameter '{kwargs.Keys.First()}'");
        var output = new StringBuilder();
        Execute(m.Body, scope, output);
        return output.ToString();
    });

    // ---------------------------------------------------------------- expressions

    private ChatTemplateException Fail(string message, int offset) => SourcePosition.Error(_src, message, offset);

    private object? Eval(Expr expr, Scope scope)
    {
        try
        {
            return EvalCore(expr, scope);
        }
        catch (TemplateError e)
        {
            throw Fail(e.Message, expr.Offset);
        }
    }

    private object? EvalCore(Expr expr, Scope scope)
    {
        switch (expr)
        {
            case LiteralExpr l:
                return l.Value;
            case NameExpr n:
                return scope.TryGet(n.Name, out var v) ? v : new Undefined(n.Name);
            case ListExpr l:
                return l.Items.Select(i => Eval(i, scope)).ToList();
            case DictExpr d:
                var dict = new Dictionary<string, object?>();
                foreach (var (k, val) in d.Pairs) dict[PyValue.Str(Eval(k, scope))] = Eval(val, scope);
                return dict;
            case AttributeExpr a:
                return GetAttribute(Eval(a.Target, scope), a.Name);
            case ItemExpr i:
                return GetItem(Eval(i.Target, scope), Eval(i.Index, scope));
            case SliceExpr s:
                return Slice(Eval(s.Target, scope), s.Start is null ? null : Eval(s.Start, scope),
                    s.Stop is null ? null : Eval(s.Stop, scope), s.Step is null ? null : Eval(s.Step, scope));
            case CallExpr c:
                return EvalCall(c, scope);
            case FilterExpr f:
                return Filters.Apply(f.Name, Eval(f.Target, scope), EvalArgs(f.Args, scope), EvalKwargs(f.Kwargs, scope));
            case TestExpr t:
                bool result = Tests.Apply(t.Name, Eval(t.Target, scope), EvalArgs(t.Args, scope));
                return t.Negated ? !result : result;
            case UnaryExpr u:
                var operand = Eval(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !PyValue.Truthy(operand),
                    "-" => operand switch
                    {
                        long x => (object)-x,
                        double x => -x,
                        _ => throw new TemplateError($"bad operand type for unary -: '{PyValue.TypeName(operand)}'"),
                    },
                    _ => operand,
                };
            case BinaryExpr b:
                return EvalBinary(b, scope);
            case ConditionalExpr c:
                return PyValue.Truthy(Eval(c.Condition, scope)) ? Eval(c.Then, scope)
                    : c.Else is null ? new Undefined("else") : Eval(c.Else, scope);
            default:
                throw new TemplateError("unsupported expression");
        }
    }

    private List<object?> EvalArgs(List<Expr> args, Scope scope) => args.Select(a => Eval(a, scope)).ToList();

    private Dictionary<string, object?> EvalKwargs(List<(string Name, Expr Value)> kwargs, Scope scope) =>
        kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope));

    private object? EvalCall(CallExpr c, Scope scope)
    {
        var args = EvalArgs(c.Args, scope);
        var kwargs = EvalKwargs(c.Kwargs, scope);
        if (c.Callee is AttributeExpr a)
        {
            var target = Eval(a.Target, scope);
            if (Methods.TryCall(target, a.Name, args, out var result)) return result;
            return Invoke(GetAttribute(target, a.Name), args, kwargs);
        }
        return Invoke(Eval(c.Callee, scope), args, kwargs);
    }

    private static object? Invoke(object? callee, List<object?> args, Dictionary<string, object?> kwargs) => callee switch
    {
        TemplateFunction f => f.Invoke(args, kwargs),
        Undefined u => throw new TemplateError($"'{u.Name}' is undefined"),
        _ => throw new TemplateError($"'{PyValue.TypeName(callee)}' object is not callable"),
    };

    private object? EvalBinary(BinaryExpr b, Scope scope)
    {
        var left = Eval(b.Left, scope);
        switch (b.Op)
        {
            case "and": return PyValue.Truthy(left) ? Eval(b.Right, scope) : left;
            case "or": return PyValue.Truthy(left) ? left : Eval(b.Right, scope);
        }
        var right = Eval(b.Right, scope);
        switch (b.Op)
        {
            case "==": return PyValue.AreEqual(left, right);
            case "!=": return !PyValue.AreEqual(left, right);
            case "<" or "<=" or ">" or ">=":
                int cmp = PyValue.Compare(left, right)
                    ?? throw new TemplateError($"'{b.Op}' not supported between '{PyValue.TypeName(left)}' and '{PyValue.TypeName(right)}'");
                return b.Op switch { "<" => cmp < 0, "<=" => cmp <= 0, ">" => cmp > 0, _ => cmp >= 0 };
            case "in": return Contains(right, left);
            case "not in": return !Contains(right, left);
            case "~": return PyValue.Str(left) + PyValue.Str(right);
        }
        return Arithmetic(b.Op, left, right);
    }

    private static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal) : throw new TemplateError("'in <string>' requires a string on the left"),
        Dictionary<string, object?> d => item is string k && d.ContainsKey(k),
        List<object?> l => l.Any(x => PyValue.AreEqual(x, item)),
        Undefined u => throw new TemplateError($"'{u.Name}' is undefined"),
        _ => throw new TemplateError($"argument of type '{PyValue.TypeName(container)}' is not iterable"),
    };

    private static object? Arithmetic(string op, object? a, object? b)
    {
        switch (op, a, b)
        {
            case ("+", string x, string y): return x + y;
            case ("+", List<object?> x, List<object?> y): return x.Concat(y).ToList();
            case ("*", string x, long n): return string.Concat(Enumerable.Repeat(x, (int)Math.Max(0, n)));
            case ("*", List<object?> x, long n): return Enumerable.Repeat(x, (int)Math.Max(0, n)).SelectMany(l => l).ToList();
            case (_, long x, long y):
                return op switch
                {
                    "+" => (object)(x + y),
                    "-" => x - y,
                    "*" => x * y,
                    "/" => y == 0 ? throw new TemplateError("division by zero") : (double)x / y,
                    "//" => y == 0 ? throw new TemplateError("division by zero") : (long)Math.Floor((double)x / y),
                    "%" => y == 0 ? throw new TemplateError("modulo by zero") : ((x % y) + y) % y,
                    _ => y >= 0 ? (long)Math.Pow(x, y) : (object)Math.Pow(x, y),
                };
            case (_, long or double, long or double):
                double p = PyValue.ToDouble(a), q = PyValue.ToDouble(b);
                return op switch
                {
                    "+" => p + q,
                    "-" => p - q,
                    "*" => p * q,
                    "/" => p / q,
                    "//" => Math.Floor(p / q),
                    "%" => p - q * Math.Floor(p / q),
                    _ => Math.Pow(p, q),
                };
        }
        throw new TemplateError($"unsupported operand types for {op}: '{PyValue.TypeName(a)}' and '{PyValue.TypeName(b)}'");
    }

    internal static object? GetAttribute(object? target, string name) => target switch
    {
        Dictionary<string, object?> d => d.TryGetValue(name, out var v) ? v : new Undefined(name),
        Namespace ns => ns.Attributes.TryGetValue(name, out var v) ? v : new Undefined(name),
        Undefined u => throw new TemplateError($"'{u.Name}' is undefined"),
        _ => new Undefined(name),
    };

    internal static object? GetItem(object? target, object? key)
    {
        switch (target, key)
        {
            case (Dictionary<string, object?> d, string k): return d.TryGetValue(k, out var v) ? v : new Undefined(k);
            case (Namespace ns, string k): return ns.Attributes.TryGetValue(k, out var a) ? a : new Undefined(k);
            case (List<object?> l, long i):
                long li = i < 0 ? i + l.Count : i;
                return li >= 0 && li < l.Count ? l[(int)li] : new Undefined($"[{i}]");
            case (string s, long i):
                long si = i < 0 ? i + s.Length : i;
                return si >= 0 && si < s.Length ? s[(int)si].ToString() : new Undefined($"[{i}]");
            case (Undefined u, _): throw new TemplateError($"'{u.Name}' is undefined");
            default: return new Undefined(PyValue.Str(key));
        }
    }

    private static object? Slice(object? target, object? start, object? stop, object? step)
    {
        long stepValue = step is long st ? st : 1;
        if (stepValue == 0) throw new TemplateError("slice step cannot be zero");
        int count = target switch
        {
            List<object?> l => l.Count,
            string s => s.Length,
            _ => throw new TemplateError($"'{PyValue.TypeName(target)}' object is not subscriptable"),
        };
        // Python's slice.indices(): clamp the bounds, defaulting by the step's sign.
        long Bound(object? v, long whenMissing)
        {
            if (v is not long x) return whenMissing;
            if (x < 0) x += count;
            return stepValue > 0 ? Math.Clamp(x, 0, count) : Math.Clamp(x, -1, count - 1);
        }
        long from = Bound(start, stepValue > 0 ? 0 : count - 1);
        long to = Bound(stop, stepValue > 0 ? count : -1);
        var indices = new List<int>();
        for (long i = from; stepValue > 0 ? i < to : i > to; i += stepValue) indices.Add((int)i);
        return target is string str
            ? string.Concat(indices.Select(i => str[i]))
            : indices.Select(i => ((List<object?>)target!)[i]).ToList();
    }

    /// <summary>The globals HF makes available to chat templates.</summary>
    public static void AddGlobals(Dictionary<string, object?> context)
    {
        context["raise_exception"] = new TemplateFunction("raise_exception", (args, _) =>
            throw new TemplateError(args.Count > 0 ? PyValue.Str(args[0]) : "raise_exception called"));
        context["range"] = new TemplateFunction("range", (args, _) =>
        {
            if (args.Count is 0 or > 3 || args.Any(a => a is not long)) throw new TemplateError("range() takes 1 to 3 integers");
            long start = args.Count > 1 ? (long)args[0]! : 0, stop = (long)args[args.Count > 1 ? 1 : 0]!, step = args.Count > 2 ? (long)args[2]! : 1;
            if (step == 0) throw new TemplateError("range() step must not be zero");
            var list = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) list.Add(i);
            return list;
        });
        context["namespace"] = new TemplateFunction("namespace", (args, kwargs) =>
        {
            var attributes = new Dictionary<string, object?>();
            foreach (var a in args)
                if (a is Dictionary<string, object?> d) foreach (var (k, v) in d) attributes[k] = v;
            foreach (var (k, v) in kwargs) attributes[k] = v;
            return new Namespace(attributes);
        });
    }

    internal static long ToInt(object? v, string what) => v switch
    {
        long l => l,
        double d => (long)d,
        bool b => b ? 1 : 0,
        string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) => l,
        _ => throw new TemplateError($"{what} must be an integer"),
    };
}
