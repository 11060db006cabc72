namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>One entry of tokenizer.json <c>added_tokens</c>.</summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">Token text.</param>
/// <param name="Special">Whether it is a special token (skipped by <c>skipSpecialTokens</c>).</param>
/// <param name="SingleWord">Only matched when not adjacent to word characters.</param>
/// <param name="LStrip">A match also consumes whitespace on its left.</param>
/// <param name="RStrip">A match also consumes whitespace on its right.</param>
/// <param name="Normalized">Matched against normalized text instead of the raw input.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);

/// <summary>Leftmost-longest matching of added tokens (HF uses Aho-Corasick with LeftmostLongest).</summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> _byFirstChar = new();

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        foreach (var group in tokens.Where(t => t.Content.Length > 0).GroupBy(t => t.Content[0]))
        {
            _byFirstChar[group.Key] = group.OrderByDescending(t => t.Content.Length).ToArray();
        }
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Splits <paramref name="text"/> into (segment, token) parts: token is null for plain text.</summary>
    public void Split(string text, int baseOffset, List<(string Text, int Offset, AddedToken? Token)> output)
    {
        int segmentStart = 0;
        int i = 0;
        while (i < text.Length)
        {
            if (!_byFirstChar.TryGetValue(text[i], out var candidates))
            {
                i++;
                continue;
            }
            AddedToken? hit = null;
            foreach (var t in candidates)
            {
                if (text.AsSpan(i).StartsWith(t.Content, StringComparison.Ordinal))
                {
                    if (t.SingleWord && !IsSingleWord(text, i, i + t.Content.Length))
                    {
                        continue;
                    }
                    hit = t;
                    break;
                }
            }
            if (hit is null)
            {
                i++;
                continue;
            }
            int start = i, end = i + hit.Content.Length;
            if (hit.LStrip)
            {
                while (start > segmentStart && char.IsWhiteSpace(text[start - 1]))
                {
                    start--;
                }
            }
            if (hit.RStrip)
            {
                while (end < text.Length && char.IsWhiteSpace(text[end]))
                {
                    end++;
                }
            }
            if (start > segmentStart)
            {
                output.Add((text[segmentStart..start], baseOffset + segmentStart, null));
            }
            output.Add((hit.Content, baseOffset + start, hit));
            segmentStart = i = end;
        }
        if (segmentStart < text.Length)
        {
            output.Add((text[segmentStart..], baseOffset + segmentStart, null));
        }
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';

    private static bool IsSingleWord(string text, int start, int end) =>
        (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));
}
