using System.Text;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>A tokenizer.json normalizer: rewrites one text segment before pre-tokenization.</summary>
internal abstract class TextNormalizer
{
    public abstract string Normalize(string text);
}

internal sealed class SequenceNormalizer(IReadOnlyList<TextNormalizer> steps) : TextNormalizer
{
    public override string Normalize(string text)
    {
        foreach (var step in steps)
        {
            text = step.Normalize(text);
        }
        return text;
    }
}

/// <summary>NFC / NFD / NFKC / NFKD through <see cref="string.Normalize(NormalizationForm)"/>.</summary>
internal sealed class UnicodeFormNormalizer(NormalizationForm form) : TextNormalizer
{
    public override string Normalize(string text) => text.Normalize(form);
}

internal sealed class LowercaseNormalizer : TextNormalizer
{
    public override string Normalize(string text) => text.ToLowerInvariant();
}

/// <summary>HF Prepend: adds the prefix unless the segment is empty.</summary>
internal sealed class PrependNormalizer(string prefix) : TextNormalizer
{
    public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

internal sealed class StripNormalizer(bool left, bool right) : TextNormalizer
{
    public override string Normalize(string text) => (left, right) switch
    {
        (true, true) => text.Trim(),
        (true, false) => text.TrimStart(),
        (false, true) => text.TrimEnd(),
        _ => text,
    };
}

/// <summary>HF Replace with a literal string or a regex pattern.</summary>
internal sealed class ReplaceNormalizer : TextNormalizer
{
    private readonly string? _literal;
    private readonly UnicodeRegex? _regex;
    private readonly string _content;

    public ReplaceNormalizer(string? literal, UnicodeRegex? regex, string content)
    {
        _literal = literal;
        _regex = regex;
        _content = content;
    }

    public override string Normalize(string text)
    {
        if (_literal is not null)
        {
            return _literal.Length == 0 ? text : text.Replace(_literal, _content, StringComparison.Ordinal);
        }
        var matches = _regex!.Matches(text);
        if (matches.Count == 0)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length);
        int pos = 0;
        foreach (var (start, length) in matches)
        {
            sb.Append(text, pos, start - pos).Append(_content);
            pos = start + length;
        }
        sb.Append(text, pos, text.Length - pos);
        return sb.ToString();
    }
}
