using System.Globalization;
using System.Text;

namespace OpenAutoGlm.Engine.Chat;

internal enum TokenKind { Data, BlockBegin, BlockEnd, VariableBegin, VariableEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct Token(TokenKind Kind, string Text, int Offset, object? Value = null);

/// <summary>
/// Splits a template into data and tag tokens with Jinja's whitespace rules as HF configures them:
/// trim_blocks and lstrip_blocks on, <c>-</c>/<c>+</c> tag modifiers, one trailing newline dropped, newlines normalized.
/// </summary>
internal sealed class TemplateLexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private readonly string _src;
    private readonly List<Token> _tokens = [];
    private int _pos;

    private TemplateLexer(string source) => _src = source;

    /// <summary>The normalized source the token offsets refer to.</summary>
    public static string Normalize(string template)
    {
        string s = template.Replace("\r\n", "\n").Replace('\r', '\n');
        return s.EndsWith('\n') ? s[..^1] : s;
    }

    public static List<Token> Tokenize(string normalizedSource)
    {
        var lexer = new TemplateLexer(normalizedSource);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        bool stripNextData = false;
        while (_pos < _src.Length)
        {
            int tag = FindTagStart(_pos);
            int dataStart = _pos;
            string data = _src[_pos..(tag < 0 ? _src.Length : tag)];
            if (stripNextData) data = data.TrimStart();
            if (tag < 0)
            {
                AddData(data, dataStart);
                break;
            }
            char kind = _src[tag + 1];
            char modifier = tag + 2 < _src.Length ? _src[tag + 2] : '\0';
            if (modifier == '-') data = data.TrimEnd();
            else if (kind != '{' && modifier != '+') data = LeftStripBlock(data, dataStart);
            AddData(data, dataStart);
            _pos = tag + 2 + (modifier == '-' || (modifier == '+' && kind != '{') ? 1 : 0);
            stripNextData = kind switch
            {
                '#' => SkipComment(tag),
                '%' => LexTag(TokenKind.BlockBegin, TokenKind.BlockEnd, '%', tag),
                _ => LexTag(TokenKind.VariableBegin, TokenKind.VariableEnd, '}', tag),
            };
        }
        _tokens.Add(new Token(TokenKind.End, "", _src.Length));
    }

    private void AddData(string data, int offset)
    {
        if (data.Length > 0) _tokens.Add(new Token(TokenKind.Data, data, offset));
    }

    private int FindTagStart(int from)
    {
        for (int i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
            if (_src[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    // lstrip_blocks: spaces and tabs between the start of a line and a block or comment tag are removed.
    private string LeftStripBlock(string data, int dataStart)
    {
        int lineStart = data.LastIndexOf('\n') + 1;
        bool atLineStart = lineStart > 0 || dataStart == 0 || _src[dataStart - 1] == '\n';
        if (!atLineStart) return data;
        for (int i = lineStart; i < data.Length; i++)
            if (data[i] is not (' ' or '\t')) return data;
        return data[..lineStart];
    }

    /// <summary>Consumes the tag end; returns whether the following data loses its leading whitespace.</summary>
    private bool FinishTag(int endMarkerStart, int afterEnd, bool isBlock)
    {
        char modifier = endMarkerStart > 0 ? _src[endMarkerStart - 1] : '\0';
        _pos = afterEnd;
        if (modifier == '-') return true;
        // trim_blocks: the first newline after a block or comment tag is removed.
        if (isBlock && modifier != '+' && _pos < _src.Length && _src[_pos] == '\n') _pos++;
        return false;
    }

    private bool SkipComment(int tagStart)
    {
        int end = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
        if (end < 0) throw Error("unclosed comment", tagStart);
        bool hasModifier = end > _pos && _src[end - 1] is '-' or '+';
        return FinishTag(hasModifier ? end : -1, end + 2, true);
    }

    private bool LexTag(TokenKind begin, TokenKind end, char closer, int tagStart)
    {
        _tokens.Add(new Token(begin, "", tagStart));
        int depth = 0;
        while (true)
        {
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) _pos++;
            if (_pos >= _src.Length) throw Error("unclosed tag", tagStart);
            char c = _src[_pos];
            // An end marker, optionally preceded by a whitespace modifier, closes the tag outside brackets.
            if (depth == 0)
            {
                int m = c is '-' or '+' ? _pos + 1 : _pos;
                if (m + 1 < _src.Length && _src[m] == closer && _src[m + 1] == '}')
                {
                    _tokens.Add(new Token(end, "", _pos));
                    return FinishTag(m > _pos ? m : -1, m + 2, closer == '%');
                }
            }
            if (char.IsAsciiLetter(c) || c == '_') LexName();
            else if (char.IsAsciiDigit(c)) LexNumber();
            else if (c is '\'' or '"') LexString(c);
            else
            {
                string? op = null;
                foreach (var o in Operators)
                    if (string.CompareOrdinal(_src, _pos, o, 0, o.Length) == 0) { op = o; break; }
                if (op is null) throw Error($"unexpected character '{c}'", _pos);
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}") depth--;
                _tokens.Add(new Token(TokenKind.Operator, op, _pos));
                _pos += op.Length;
            }
        }
    }

    private void LexName()
    {
        int start = _pos;
        while (_pos < _src.Length && (char.IsAsciiLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
        _tokens.Add(new Token(TokenKind.Name, _src[start.._pos], start));
    }

    private void LexNumber()
    {
        int start = _pos;
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
        bool isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) _pos++;
        }
        if (_pos < _src.Length && _src[_pos] is 'e' or 'E')
        {
            int save = _pos++;
            if (_pos < _src.Length && _src[_pos] is '+' or '-') _pos++;
            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
            {
                isFloat = true;
                while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) _pos++;
            }
            else _pos = save;
        }
        string text = _src[start.._pos].Replace("_", "");
        object value = isFloat
            ? double.Parse(text, CultureInfo.InvariantCulture)
            : (object)long.Parse(text, CultureInfo.InvariantCulture);
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, start, value));
    }

    private void LexString(char quote)
    {
        int start = _pos++;
        var sb = new StringBuilder();
        while (true)
        {
            if (_pos >= _src.Length) throw Error("unclosed string literal", start);
            char c = _src[_pos++];
            if (c == quote) break;
            if (c != '\\') { sb.Append(c); continue; }
            if (_pos >= _src.Length) throw Error("unclosed string literal", start);
            char e = _src[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case '\\' or '\'' or '"': sb.Append(e); break;
                case 'u' when _pos + 4 <= _src.Length:
                    sb.Append((char)int.Parse(_src.AsSpan(_pos, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                    _pos += 4;
                    break;
                default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes verbatim
            }
        }
        _tokens.Add(new Token(TokenKind.String, sb.ToString(), start, sb.ToString()));
    }

    private ChatTemplateException Error(string message, int offset) => SourcePosition.Error(_src, message, offset);
}

/// <summary>Turns a source offset into the line and column an error names.</summary>
internal static class SourcePosition
{
    public static ChatTemplateException Error(string source, string message, int offset)
    {
        offset = Math.Clamp(offset, 0, source.Length);
        int line = 1, lineStart = 0;
        for (int i = 0; i < offset; i++)
            if (source[i] == '\n') { line++; lineStart = i + 1; }
        return new ChatTemplateException(message, line, offset - lineStart + 1);
    }
}
