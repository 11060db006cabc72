namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>A tokenizer.json pre-tokenizer: splits segments into the words the model encodes independently.</summary>
internal abstract class PreTokenizer
{
    /// <param name="pieces">The current pieces of one segment, in order.</param>
    /// <param name="atOrigin">Whether the first piece starts at offset 0 of the original text.</param>
    public abstract List<string> Apply(List<string> pieces, bool atOrigin);

    /// <summary>Whether this pre-tokenizer maps pieces to the GPT-2 byte-level alphabet.</summary>
    public virtual bool IsByteLevel => false;
}

internal enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

internal static class Splitting
{
    /// <summary>Splits <paramref name="text"/> around <paramref name="matches"/> the way HF's SplitDelimiterBehavior does.</summary>
    public static void Split(string text, List<(int Start, int Length)> matches, SplitBehavior behavior, bool invert, List<string> output)
    {
        // Cover the text with (start, length, isDelimiter) spans.
        var spans = new List<(int Start, int Length, bool Delim)>(matches.Count * 2 + 1);
        int pos = 0;
        foreach (var (start, length) in matches)
        {
            if (start > pos)
            {
                spans.Add((pos, start - pos, invert));
            }
            spans.Add((start, length, !invert));
            pos = start + length;
        }
        if (pos < text.Length)
        {
            spans.Add((pos, text.Length - pos, invert));
        }

        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var s in spans)
                {
                    if (!s.Delim)
                    {
                        output.Add(text.Substring(s.Start, s.Length));
                    }
                }
                break;
            case SplitBehavior.Isolated:
                foreach (var s in spans)
                {
                    output.Add(text.Substring(s.Start, s.Length));
                }
                break;
            case SplitBehavior.Contiguous:
            {
                int i = 0;
                while (i < spans.Count)
                {
                    int start = spans[i].Start, end = spans[i].Start + spans[i].Length;
                    if (spans[i].Delim)
                    {
                        while (i + 1 < spans.Count && spans[i + 1].Delim)
                        {
                            i++;
                            end = spans[i].Start + spans[i].Length;
                        }
                    }
                    output.Add(text.Substring(start, end - start));
                    i++;
                }
                break;
            }
            case SplitBehavior.MergedWithPrevious:
            {
                int first = output.Count;
                bool previousWasMatch = false;
                foreach (var s in spans)
                {
                    if (s.Delim && output.Count > first && !previousWasMatch)
                    {
                        output[^1] += text.Substring(s.Start, s.Length);
                    }
                    else
                    {
                        output.Add(text.Substring(s.Start, s.Length));
                    }
                    previousWasMatch = s.Delim;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                string? pending = null;
                foreach (var s in spans)
                {
                    string piece = text.Substring(s.Start, s.Length);
                    if (s.Delim)
                    {
                        if (pending is not null)
                        {
                            output.Add(pending);
                        }
                        pending = piece;
                    }
                    else
                    {
                        output.Add(pending is null ? piece : pending + piece);
                        pending = null;
                    }
                }
                if (pending is not null)
                {
                    output.Add(pending);
                }
                break;
            }
        }
    }
}

internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> steps) : PreTokenizer
{
    public override bool IsByteLevel => steps.Any(s => s.IsByteLevel);

    public override List<string> Apply(List<string> pieces, bool atOrigin)
    {
        foreach (var step in steps)
        {
            pieces = step.Apply(pieces, atOrigin);
        }
        return pieces;
    }
}

internal sealed class SplitPreTokenizer : PreTokenizer
{
    private readonly UnicodeRegex? _regex;
    private readonly string? _literal;
    private readonly SplitBehavior _behavior;
    private readonly bool _invert;

    public SplitPreTokenizer(UnicodeRegex? regex, string? literal, SplitBehavior behavior, bool invert)
    {
        _regex = regex;
        _literal = literal;
        _behavior = behavior;
        _invert = invert;
    }

    public override List<string> Apply(List<string> pieces, bool atOrigin)
    {
        var output = new List<string>(pieces.Count * 4);
        foreach (var piece in pieces)
        {
            Splitting.Split(piece, FindMatches(piece), _behavior, _invert, output);
        }
        output.RemoveAll(static s => s.Length == 0);
        return output;
    }

    private List<(int, int)> FindMatches(string text)
    {
        if (_regex is not null)
        {
            return _regex.Matches(text);
        }
        var result = new List<(int, int)>();
        if (string.IsNullOrEmpty(_literal))
        {
            return result;
        }
        for (int i = text.IndexOf(_literal, StringComparison.Ordinal); i >= 0; i = text.IndexOf(_literal, i + _literal.Length, StringComparison.Ordinal))
        {
            result.Add((i, _literal.Length));
        }
        return result;
    }
}

/// <summary>HF ByteLevel: optional prefix space, optional GPT-2 regex split, then the byte-to-unicode mapping.</summary>
internal sealed class ByteLevelPreTokenizer : PreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    private static readonly Lazy<UnicodeRegex> Gpt2Regex = new(() => new UnicodeRegex(Gpt2Pattern, "ByteLevel pre-tokenizer"));
    private readonly bool _addPrefixSpace;
    private readonly bool _useRegex;

    public ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
    {
        _addPrefixSpace = addPrefixSpace;
        _useRegex = useRegex;
    }

    public override bool IsByteLevel => true;

    public override List<string> Apply(List<string> pieces, bool atOrigin)
    {
        var output = new List<string>(pieces.Count * 4);
        foreach (var original in pieces)
        {
            string piece = original;
            if (_addPrefixSpace && !piece.StartsWith(' '))
            {
                piece = " " + piece;
            }
            if (_useRegex)
            {
                Splitting.Split(piece, Gpt2Regex.Value.Matches(piece), SplitBehavior.Isolated, false, output);
            }
            else
            {
                output.Add(piece);
            }
        }
        output.RemoveAll(static s => s.Length == 0);
        for (int i = 0; i < output.Count; i++)
        {
            output[i] = ByteLevelAlphabet.Encode(output[i]);
        }
        return output;
    }
}

internal enum PrependScheme
{
    Always,
    First,
    Never,
}

/// <summary>HF Metaspace: spaces become the replacement character, optional prefix, optional split before each replacement.</summary>
internal sealed class MetaspacePreTokenizer : PreTokenizer
{
    private readonly char _replacement;
    private readonly PrependScheme _scheme;
    private readonly bool _split;

    public MetaspacePreTokenizer(char replacement, PrependScheme scheme, bool split)
    {
        _replacement = replacement;
        _scheme = scheme;
        _split = split;
    }

    public char Replacement => _replacement;

    public PrependScheme Scheme => _scheme;

    public override List<string> Apply(List<string> pieces, bool atOrigin)
    {
        var output = new List<string>(pieces.Count * 4);
        for (int p = 0; p < pieces.Count; p++)
        {
            string piece = pieces[p].Replace(' ', _replacement);
            bool prepend = _scheme switch
            {
                PrependScheme.Always => true,
                PrependScheme.First => atOrigin && p == 0,
                _ => false,
            };
            if (prepend && !piece.StartsWith(_replacement))
            {
                piece = _replacement + piece;
            }
            if (_split)
            {
                var matches = new List<(int, int)>();
                for (int i = 0; i < piece.Length; i++)
                {
                    if (piece[i] == _replacement)
                    {
                        matches.Add((i, 1));
                    }
                }
                Splitting.Split(piece, matches, SplitBehavior.MergedWithNext, false, output);
            }
            else
            {
                output.Add(piece);
            }
        }
        output.RemoveAll(static s => s.Length == 0);
        return output;
    }
}

/// <summary>HF Digits: splits runs of numeric characters (each digit alone when <c>individual_digits</c>).</summary>
internal sealed class DigitsPreTokenizer(bool individual) : PreTokenizer
{
    private static readonly Lazy<UnicodeRegex> Digit = new(() => new UnicodeRegex(@"\p{N}", "Digits pre-tokenizer"));

    public override List<string> Apply(List<string> pieces, bool atOrigin)
    {
        var output = new List<string>(pieces.Count * 2);
        foreach (var piece in pieces)
        {
            Splitting.Split(piece, Digit.Value.Matches(piece), individual ? SplitBehavior.Isolated : SplitBehavior.Contiguous, false, output);
        }
        output.RemoveAll(static s => s.Length == 0);
        return output;
    }
}

/// <summary>HF WhitespaceSplit: splits on whitespace, dropping it.</summary>
internal sealed class WhitespaceSplitPreTokenizer : PreTokenizer
{
    private static readonly Lazy<UnicodeRegex> Space = new(() => new UnicodeRegex(@"\s+", "WhitespaceSplit pre-tokenizer"));

    public override List<string> Apply(List<string> pieces, bool atOrigin)
    {
        var output = new List<string>(pieces.Count * 2);
        foreach (var piece in pieces)
        {
            Splitting.Split(piece, Space.Value.Matches(piece), SplitBehavior.Removed, false, output);
        }
        output.RemoveAll(static s => s.Length == 0);
        return output;
    }
}
