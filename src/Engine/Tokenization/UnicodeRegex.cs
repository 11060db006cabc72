using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>
/// Runs a .NET regex with code-point semantics. .NET matches UTF-16 code units, so a letter outside the BMP
/// (a surrogate pair) would not match <c>\p{L}</c>. Before matching, each astral code point is replaced by one
/// BMP character of the same Unicode general category, which keeps category classes and quantifier counts
/// (<c>\p{N}{1,3}</c>) per code point; match positions are mapped back to the original string.
/// </summary>
internal sealed class UnicodeRegex
{
    private static readonly char[] Representatives = BuildRepresentatives();
    private readonly Regex _regex;

    public UnicodeRegex(string pattern, string what)
    {
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new NotSupportedException($"{what}: regex pattern '{pattern}' is not supported by .NET regular expressions ({e.Message}).", e);
        }
    }

    /// <summary>Returns (start, length) of every non-overlapping match, in UTF-16 positions of <paramref name="text"/>.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        var result = new List<(int, int)>();
        int surrogates = 0;
        foreach (char c in text)
        {
            if (char.IsHighSurrogate(c))
            {
                surrogates++;
            }
        }
        if (surrogates == 0)
        {
            for (Match m = _regex.Match(text); m.Success; m = m.NextMatch())
            {
                if (m.Length > 0)
                {
                    result.Add((m.Index, m.Length));
                }
            }
            return result;
        }

        // Compact: one char per code point; map[i] = original index of compact char i (map[n] = text.Length).
        var compact = new StringBuilder(text.Length);
        var map = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            map.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(text[i], text[i + 1]);
                compact.Append(Representatives[(int)CharUnicodeInfo.GetUnicodeCategory(cp)]);
                i += 2;
            }
            else
            {
                compact.Append(text[i]);
                i++;
            }
        }
        map.Add(text.Length);
        for (Match m = _regex.Match(compact.ToString()); m.Success; m = m.NextMatch())
        {
            if (m.Length > 0)
            {
                int start = map[m.Index];
                result.Add((start, map[m.Index + m.Length] - start));
            }
        }
        return result;
    }

    private static char[] BuildRepresentatives()
    {
        var reps = new char[32];
        var found = new bool[32];
        for (int c = 0x100; c <= 0xFFFF; c++)
        {
            if (c >= 0xD800 && c <= 0xDFFF)
            {
                continue;
            }
            int cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (!found[cat] && !char.IsWhiteSpace((char)c))
            {
                reps[cat] = (char)c;
                found[cat] = true;
            }
        }
        for (int i = 0; i < reps.Length; i++)
        {
            if (!found[i])
            {
                reps[i] = '\uFFFD';
            }
        }
        return reps;
    }
}
