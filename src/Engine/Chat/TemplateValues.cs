using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OpenAutoGlm.Engine.Chat;

/// <summary>A name or attribute that does not exist: falsy, renders as nothing, iterates as empty; most other uses fail.</summary>
internal sealed class Undefined(string name)
{
    public string Name { get; } = name;
}

/// <summary>The object <c>namespace()</c> returns: the one value a loop body may modify for code after the loop.</summary>
internal sealed class Namespace(Dictionary<string, object?> attributes)
{
    public Dictionary<string, object?> Attributes { get; } = attributes;
}

/// <summary>A callable value: a global such as <c>range</c>, or a macro.</summary>
internal sealed class TemplateFunction(string name, Func<List<object?>, Dictionary<string, object?>, object?> invoke)
{
    public string Name { get; } = name;
    public object? Invoke(List<object?> args, Dictionary<string, object?> kwargs) => invoke(args, kwargs);
}

/// <summary>
/// Template values follow Python: null is None, long and double are int and float, List and Dictionary are list and dict.
/// These helpers give them Python's truthiness, str(), repr(), equality, ordering and json.dumps output.
/// </summary>
internal static class PyValue
{
    /// <summary>Converts a caller-supplied object (CLR scalars, collections, JSON elements, chat messages) into a template value.</summary>
    public static object? From(object? value) => value switch
    {
        null or string or bool or long or double => value,
        int or short or byte or uint => Convert.ToInt64(value, CultureInfo.InvariantCulture),
        float f => (double)f,
        decimal m => (double)m,
        JsonElement e => FromJson(e),
        ChatMessage m => FromMessage(m),
        IReadOnlyDictionary<string, object?> d => d.ToDictionary(p => p.Key, p => From(p.Value)),
        IDictionary d => d.Keys.Cast<object>().ToDictionary(k => Str(From(k)), k => From(d[k])),
        IEnumerable e => e.Cast<object?>().Select(From).ToList(),
        _ => throw new ArgumentException($"A {value.GetType().Name} cannot be passed to a chat template."),
    };

    public static Dictionary<string, object?> FromMessage(ChatMessage m)
    {
        object? content = m.Parts is { } parts
            ? parts.Select(p =>
            {
                var item = new Dictionary<string, object?> { ["type"] = p.Type };
                if (p.Text is not null) item["text"] = p.Text;
                return (object?)item;
            }).ToList()
            : m.Content;
        return new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = content };
    }

    private static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? l : (object)e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => e.EnumerateObject().ToDictionary(p => p.Name, p => FromJson(p.Value)),
        _ => null,
    };

    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        ICollection c => c.Count > 0,
        _ => true,
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        Namespace => "Namespace",
        _ => "function",
    };

    /// <summary>Python's str(): what <c>{{ }}</c> prints.</summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(v),
    };

    public static string Repr(object? v)
    {
        var sb = new StringBuilder();
        AppendRepr(sb, v);
        return sb.ToString();
    }

    private static void AppendRepr(StringBuilder sb, object? v)
    {
        switch (v)
        {
            case null: sb.Append("None"); break;
            case Undefined: break;
            case bool b: sb.Append(b ? "True" : "False"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(Float(d, json: false)); break;
            case string s:
                char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
                sb.Append(quote);
                foreach (char c in s)
                {
                    if (c == quote || c == '\\') sb.Append('\\').Append(c);
                    else if (c == '\n') sb.Append("\\n");
                    else if (c == '\r') sb.Append("\\r");
                    else if (c == '\t') sb.Append("\\t");
                    else if (c < 0x20) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                }
                sb.Append(quote);
                break;
            case List<object?> list:
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(", ");
                    AppendRepr(sb, list[i]);
                }
                sb.Append(']');
                break;
            case Dictionary<string, object?> dict:
                sb.Append('{');
                bool first = true;
                foreach (var (k, val) in dict)
                {
                    if (!first) sb.Append(", ");
                    first = false;
                    AppendRepr(sb, k);
                    sb.Append(": ");
                    AppendRepr(sb, val);
                }
                sb.Append('}');
                break;
            case Namespace: sb.Append("<Namespace>"); break;
            case TemplateFunction f: sb.Append("<function ").Append(f.Name).Append('>'); break;
        }
    }

    /// <summary>Python's float repr (and json.dumps form, which spells the non-finite values differently).</summary>
    public static string Float(double d, bool json)
    {
        if (double.IsNaN(d)) return json ? "NaN" : "nan";
        if (double.IsInfinity(d)) return (d < 0 ? "-" : "") + (json ? "Infinity" : "inf");
        if (d == Math.Floor(d) && Math.Abs(d) < 1e16) return d.ToString("F1", CultureInfo.InvariantCulture);
        return d.ToString("R", CultureInfo.InvariantCulture).Replace("E", "e");
    }

    /// <summary>json.dumps(v, ensure_ascii=False, indent=indent): HF's <c>tojson</c>, not Jinja's HTML-escaping one.</summary>
    public static string Json(object? v, int? indent, bool sortKeys)
    {
        var sb = new StringBuilder();
        AppendJson(sb, v, indent, sortKeys, 0);
        return sb.ToString();
    }

    private static void AppendJson(StringBuilder sb, object? v, int? indent, bool sortKeys, int level)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(Float(d, json: true)); break;
            case string s: JsonEscaping.AppendQuoted(sb, s); break;
            case List<object?> list:
                AppendJsonContainer(sb, '[', ']', list.Count, indent, level, (i, lvl) => AppendJson(sb, list[i], indent, sortKeys, lvl));
                break;
            case Dictionary<string, object?> dict:
                var keys = dict.Keys.ToList();
                if (sortKeys) keys.Sort(StringComparer.Ordinal);
                AppendJsonContainer(sb, '{', '}', keys.Count, indent, level, (i, lvl) =>
                {
                    JsonEscaping.AppendQuoted(sb, keys[i]);
                    sb.Append(": ");
                    AppendJson(sb, dict[keys[i]], indent, sortKeys, lvl);
                });
                break;
            default: throw new InvalidOperationException($"Object of type {TypeName(v)} is not JSON serializable");
        }
    }

    private static void AppendJsonContainer(StringBuilder sb, char open, char close, int count, int? indent, int level, Action<int, int> item)
    {
        sb.Append(open);
        if (count == 0) { sb.Append(close); return; }
        for (int i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(indent is null ? ", " : ",");
            if (indent is { } n) sb.Append('\n').Append(' ', n * (level + 1));
            item(i, level + 1);
        }
        if (indent is { } m) sb.Append('\n').Append(' ', m * level);
        sb.Append(close);
    }

    public static bool AreEqual(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (Undefined, Undefined) => true,
        (long x, long y) => x == y,
        (long or double, long or double) => ToDouble(a) == ToDouble(b),
        (bool x, bool y) => x == y,
        (string x, string y) => x == y,
        (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => AreEqual(p.First, p.Second)),
        (Dictionary<string, object?> x, Dictionary<string, object?> y) =>
            x.Count == y.Count && x.All(p => y.TryGetValue(p.Key, out var o) && AreEqual(p.Value, o)),
        _ => ReferenceEquals(a, b),
    };

    /// <summary>Python ordering for numbers and strings; null when the operands cannot be ordered.</summary>
    public static int? Compare(object? a, object? b) => (a, b) switch
    {
        (long x, long y) => x.CompareTo(y),
        (long or double, long or double) => ToDouble(a).CompareTo(ToDouble(b)),
        (string x, string y) => string.CompareOrdinal(x, y),
        _ => null,
    };

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => double.NaN,
    };

    /// <summary>What a for loop visits: list items, dict keys, string characters.</summary>
    public static IEnumerable<object?>? Iterate(object? v) => v switch
    {
        List<object?> list => list,
        Dictionary<string, object?> dict => dict.Keys,
        string s => s.Select(c => (object?)c.ToString()),
        Undefined => [],
        _ => null,
    };

    public static int? Length(object? v) => v switch
    {
        string s => s.Length,
        ICollection c => c.Count,
        Undefined => 0,
        _ => null,
    };
}
