using System.Globalization;
using System.Text;

namespace OpenAutoGlm.Engine;

/// <summary>JSON string escaping with the fewest escapes (quote, backslash, control characters; everything else verbatim), as Python's json.dumps(ensure_ascii=False) writes it.</summary>
internal static class JsonEscaping
{
    /// <summary>Appends <paramref name="s"/> as a quoted JSON string.</summary>
    public static void AppendQuoted(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>The escaped content of <paramref name="s"/>, without the quotes.</summary>
    public static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        AppendQuoted(sb, s);
        return sb.ToString(1, sb.Length - 2);
    }
}
