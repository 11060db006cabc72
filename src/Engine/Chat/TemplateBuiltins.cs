using System.Globalization;

namespace OpenAutoGlm.Engine.Chat;

/// <summary>The Jinja filters real chat templates use, with Jinja's argument conventions.</summary>
internal static class Filters
{
    public static object? Apply(string name, object? v, List<object?> args, Dictionary<string, object?> kwargs)
    {
        object? Arg(int i, string key, object? fallback = null) =>
            kwargs.TryGetValue(key, out var k) ? k : i >= 0 && i < args.Count ? args[i] : fallback; // i < 0: keyword-only

        switch (name)
        {
            case "trim": return Methods.Strip(AsString(v), Arg(0, "chars"), left: true, right: true);
            case "length" or "count":
                return (long)(PyValue.Length(v) ?? throw new TemplateError($"object of type '{PyValue.TypeName(v)}' has no len()"));
            case "tojson":
                int? indent = Arg(0, "indent") is long n ? (int)n : null;
                try { return PyValue.Json(v, indent, PyValue.Truthy(Arg(-1, "sort_keys"))); }
                catch (InvalidOperationException e) { throw new TemplateError(e.Message); }
            case "upper": return AsString(v).ToUpperInvariant();
            case "lower": return AsString(v).ToLowerInvariant();
            case "capitalize": return Methods.Capitalize(AsString(v));
            case "title": return Methods.Title(AsString(v));
            case "default" or "d":
                bool useIfFalsy = PyValue.Truthy(Arg(1, "boolean", false));
                return v is Undefined || (useIfFalsy && !PyValue.Truthy(v)) ? Arg(0, "default_value", "") : v;
            case "items":
                if (v is Undefined) return new List<object?>();
                if (v is not Dictionary<string, object?> d) throw new TemplateError($"can only iterate the items of a mapping, not '{PyValue.TypeName(v)}'");
                return d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList();
            case "string": return PyValue.Str(v);
            case "list": return AsList(v, name);
            case "first": return AsList(v, name) is { Count: > 0 } first ? first[0] : new Undefined("first");
            case "last": return AsList(v, name) is { Count: > 0 } last ? last[^1] : new Undefined("last");
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Enumerable.Reverse(AsList(v, name)).ToList();
            case "join":
                var items = AsList(v, name);
                if (Arg(1, "attribute") is string attribute) items = items.Select(i => TemplateRenderer.GetAttribute(i, attribute)).ToList();
                return string.Join(PyValue.Str(Arg(0, "d", "")), items.Select(PyValue.Str));
            case "replace": return Methods.Replace(AsString(v), args);
            case "int": return v is string or double or long or bool ? TemplateRenderer.ToInt(v, "int() argument") : 0L;
            case "float": return v is string s ? (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) ? f : 0.0) : PyValue.ToDouble(v);
            case "abs":
                return v switch
                {
                    long l => (object)Math.Abs(l),
                    double dd => Math.Abs(dd),
                    _ => throw new TemplateError($"bad operand type for abs(): '{PyValue.TypeName(v)}'"),
                };
            case "map":
                if (Arg(-1, "attribute") is string attr) return AsList(v, name).Select(i => TemplateRenderer.GetAttribute(i, attr)).ToList();
                if (args.Count > 0 && args[0] is string filter)
                    return AsList(v, name).Select(i => Apply(filter, i, args.Skip(1).ToList(), [])).ToList();
                throw new TemplateError("map needs a filter name or attribute=");
            case "select" or "reject":
                return SelectItems(v, name, args, item => item, name == "select");
            case "selectattr" or "rejectattr":
                if (args.Count == 0 || args[0] is not string key) throw new TemplateError($"{name} needs an attribute name");
                return SelectItems(v, name, args.Skip(1).ToList(), item => TemplateRenderer.GetAttribute(item, key), name == "selectattr");
            case "safe": return v;
            default: throw new TemplateError($"unknown filter '{name}'");
        }
    }

    private static List<object?> SelectItems(object? v, string filter, List<object?> testArgs, Func<object?, object?> subject, bool keep)
    {
        // With no test named, the subject's truthiness decides.
        return AsList(v, filter).Where(item =>
        {
            var s = subject(item);
            bool passes = testArgs.Count == 0
                ? PyValue.Truthy(s)
                : Tests.Apply(PyValue.Str(testArgs[0]), s, testArgs.Skip(1).ToList());
            return passes == keep;
        }).ToList();
    }

    private static string AsString(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => PyValue.Str(v),
    };

    private static List<object?> AsList(object? v, string filter) =>
        PyValue.Iterate(v)?.ToList() ?? throw new TemplateError($"filter '{filter}' needs an iterable, not '{PyValue.TypeName(v)}'");
}

/// <summary>The Jinja tests (<c>x is …</c>) real chat templates use.</summary>
internal static class Tests
{
    public static bool Apply(string name, object? v, List<object?> args)
    {
        object? Arg() => args.Count > 0 ? args[0] : throw new TemplateError($"test '{name}' needs an argument");
        return name switch
        {
            "defined" => v is not Undefined,
            "undefined" => v is Undefined,
            "none" => v is null,
            "string" => v is string,
            "number" => v is long or double,
            "integer" => v is long,
            "float" => v is double,
            "boolean" => v is bool,
            "true" => v is true,
            "false" => v is false,
            "mapping" => v is Dictionary<string, object?>,
            "iterable" => v is string or List<object?> or Dictionary<string, object?>,
            "sequence" => v is string or List<object?> or Dictionary<string, object?>,
            "callable" => v is TemplateFunction,
            "even" => v is long e && e % 2 == 0,
            "odd" => v is long o && o % 2 != 0,
            "divisibleby" => v is long x && Arg() is long y && y != 0 && x % y == 0,
            "equalto" or "eq" or "==" or "sameas" => PyValue.AreEqual(v, Arg()),
            "ne" or "!=" => !PyValue.AreEqual(v, Arg()),
            "lt" or "<" => PyValue.Compare(v, Arg()) < 0,
            "le" or "<=" => PyValue.Compare(v, Arg()) <= 0,
            "gt" or ">" => PyValue.Compare(v, Arg()) > 0,
            "ge" or ">=" => PyValue.Compare(v, Arg()) >= 0,
            "in" => PyValue.Iterate(Arg())?.Any(i => PyValue.AreEqual(i, v)) ?? false,
            _ => throw new TemplateError($"unknown test '{name}'"),
        };
    }
}

/// <summary>The Python str and dict methods templates call (<c>content.strip()</c>, <c>message.get('x')</c>, <c>d.items()</c>).</summary>
internal static class Methods
{
    public static bool TryCall(object? target, string name, List<object?> args, out object? result)
    {
        result = (target, name) switch
        {
            (string s, "startswith") => Affix(s, args, name, (x, p) => x.StartsWith(p, StringComparison.Ordinal)),
            (string s, "endswith") => Affix(s, args, name, (x, p) => x.EndsWith(p, StringComparison.Ordinal)),
            (string s, "strip") => Strip(s, args.Count > 0 ? args[0] : null, true, true),
            (string s, "lstrip") => Strip(s, args.Count > 0 ? args[0] : null, true, false),
            (string s, "rstrip") => Strip(s, args.Count > 0 ? args[0] : null, false, true),
            (string s, "split") => Split(s, args),
            (string s, "replace") => Replace(s, args),
            (string s, "upper") => s.ToUpperInvariant(),
            (string s, "lower") => s.ToLowerInvariant(),
            (string s, "title") => Title(s),
            (string s, "capitalize") => Capitalize(s),
            (string s, "find") => (long)s.IndexOf(StringArg(args, 0, name), StringComparison.Ordinal),
            (Dictionary<string, object?> d, "items") => d.Select(p => (object?)new List<object?> { p.Key, p.Value }).ToList(),
            (Dictionary<string, object?> d, "keys") => d.Keys.Select(k => (object?)k).ToList(),
            (Dictionary<string, object?> d, "values") => d.Values.ToList(),
            (Dictionary<string, object?> d, "get") =>
                args.Count > 0 && args[0] is string k && d.TryGetValue(k, out var v) ? v : args.Count > 1 ? args[1] : null,
            _ => NotAMethod.Instance,
        };
        return result is not NotAMethod;
    }

    private sealed class NotAMethod
    {
        public static readonly NotAMethod Instance = new();
    }

    private static string StringArg(List<object?> args, int i, string method) =>
        i < args.Count && args[i] is string s ? s : throw new TemplateError($"{method}() needs a string argument");

    private static bool Affix(string s, List<object?> args, string method, Func<string, string, bool> test) =>
        args.Count > 0 && args[0] is List<object?> options
            ? options.Any(o => o is string p && test(s, p))
            : test(s, StringArg(args, 0, method));

    public static string Strip(string s, object? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars is string set ? set.Contains : char.IsWhiteSpace;
        int start = 0, end = s.Length;
        if (left) while (start < end && strip(s[start])) start++;
        if (right) while (end > start && strip(s[end - 1])) end--;
        return s[start..end];
    }

    private static List<object?> Split(string s, List<object?> args)
    {
        long max = args.Count > 1 && args[1] is long m ? m : -1;
        if (args.Count == 0 || args[0] is null)
        {
            // Python: no separator splits on whitespace runs and drops empty pieces.
            var parts = new List<object?>();
            int i = 0;
            while (true)
            {
                while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
                if (i >= s.Length) break;
                if (max >= 0 && parts.Count == max) { parts.Add(s[i..].TrimEnd()); break; }
                int j = i;
                while (j < s.Length && !char.IsWhiteSpace(s[j])) j++;
                parts.Add(s[i..j]);
                i = j;
            }
            return parts;
        }
        string sep = StringArg(args, 0, "split");
        if (sep.Length == 0) throw new TemplateError("empty separator");
        var pieces = max >= 0
            ? s.Split(sep, (int)Math.Min(max + 1, int.MaxValue))
            : s.Split(sep);
        return pieces.Select(p => (object?)p).ToList();
    }

    public static string Replace(string s, List<object?> args)
    {
        string old = StringArg(args, 0, "replace"), replacement = StringArg(args, 1, "replace");
        long count = args.Count > 2 && args[2] is long c ? c : -1;
        if (count < 0) return old.Length == 0 ? string.Join(replacement, s.Select(ch => ch.ToString()).Prepend("").Append("")) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new System.Text.StringBuilder();
        int pos = 0;
        for (long n = 0; n < count && old.Length > 0; n++)
        {
            int i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0) break;
            sb.Append(s, pos, i - pos).Append(replacement);
            pos = i + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    public static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    public static string Title(string s)
    {
        var chars = s.ToCharArray();
        bool previousIsLetter = false;
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = previousIsLetter ? char.ToLowerInvariant(chars[i]) : char.ToUpperInvariant(chars[i]);
            previousIsLetter = char.IsLetter(chars[i]);
        }
        return new string(chars);
    }
}
