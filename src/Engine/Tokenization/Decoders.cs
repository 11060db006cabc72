using System.Text;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>A tokenizer.json decoder step: transforms the list of token strings (HF <c>decode_chain</c>).</summary>
internal abstract class TokenDecoder
{
    public abstract List<string> DecodeChain(List<string> tokens);
}

internal sealed class SequenceDecoder(IReadOnlyList<TokenDecoder> steps) : TokenDecoder
{
    public IReadOnlyList<TokenDecoder> Steps => steps;

    public override List<string> DecodeChain(List<string> tokens)
    {
        foreach (var step in steps)
        {
            tokens = step.DecodeChain(tokens);
        }
        return tokens;
    }
}

/// <summary>Maps byte-level characters back to bytes and decodes UTF-8 with replacement.</summary>
internal sealed class ByteLevelDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var t in tokens)
        {
            ByteLevelAlphabet.AppendTokenBytes(t, bytes);
        }
        return [Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }
}

internal sealed class ReplaceDecoder(string pattern, string content) : TokenDecoder
{
    public string Pattern => pattern;

    public string Content => content;

    public override List<string> DecodeChain(List<string> tokens)
    {
        if (pattern.Length == 0)
        {
            return tokens;
        }
        for (int i = 0; i < tokens.Count; i++)
        {
            tokens[i] = tokens[i].Replace(pattern, content, StringComparison.Ordinal);
        }
        return tokens;
    }
}

/// <summary>Turns runs of <c>&lt;0xXX&gt;</c> tokens into text; an invalid run becomes one U+FFFD per byte (as HF).</summary>
internal sealed class ByteFallbackDecoder : TokenDecoder
{
    private static readonly UTF8Encoding Strict = new(false, true);

    public static int ParseByteToken(string token)
    {
        if (token.Length == 6 && token[0] == '<' && token[1] == '0' && token[2] == 'x' && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
        {
            return b;
        }
        return -1;
    }

    public override List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var run = new List<byte>();
        foreach (var t in tokens)
        {
            int b = ParseByteToken(t);
            if (b >= 0)
            {
                run.Add((byte)b);
                continue;
            }
            FlushRun(run, output);
            output.Add(t);
        }
        FlushRun(run, output);
        return output;
    }

    private static void FlushRun(List<byte> run, List<string> output)
    {
        if (run.Count == 0)
        {
            return;
        }
        try
        {
            output.Add(Strict.GetString(run.ToArray()));
        }
        catch (DecoderFallbackException)
        {
            output.Add(new string('\uFFFD', run.Count));
        }
        run.Clear();
    }
}

internal sealed class FuseDecoder : TokenDecoder
{
    public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing occurrences of a character from each token.</summary>
internal sealed class StripDecoder(char content, int start, int stop) : TokenDecoder
{
    public char Content => content;

    public int Start => start;

    public int Stop => stop;

    public override List<string> DecodeChain(List<string> tokens)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            string t = tokens[i];
            int s = 0;
            while (s < start && s < t.Length && t[s] == content)
            {
                s++;
            }
            int e = t.Length;
            while (t.Length - e < stop && e > s && t[e - 1] == content)
            {
                e--;
            }
            tokens[i] = t[s..e];
        }
        return tokens;
    }
}

/// <summary>HF Metaspace decoder: the replacement becomes a space; in the first token it is dropped unless the scheme is "never".</summary>
internal sealed class MetaspaceDecoder(char replacement, bool dropInFirstToken) : TokenDecoder
{
    public char Replacement => replacement;

    public bool DropInFirstToken => dropInFirstToken;

    public override List<string> DecodeChain(List<string> tokens)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            tokens[i] = i == 0 && dropInFirstToken
                ? tokens[i].Replace(replacement.ToString(), string.Empty, StringComparison.Ordinal)
                : tokens[i].Replace(replacement, ' ');
        }
        return tokens;
    }
}
