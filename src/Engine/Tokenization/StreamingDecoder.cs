using System.Text;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>
/// Incremental decoding for one generation. <see cref="Append"/> returns the text completed by a token, holding back
/// the bytes of a UTF-8 sequence split across tokens (byte-level tokens and <c>&lt;0xXX&gt;</c> byte-fallback
/// tokens); <see cref="Flush"/> returns what is left (a dangling partial sequence becomes U+FFFD).
/// For valid UTF-8 the concatenated output equals <see cref="TextTokenizer.Decode"/> of all ids, including
/// SentencePiece's "strip one leading space" and Metaspace first-token rules. Not thread-safe.
/// </summary>
public sealed class StreamingDecoder
{
    private enum Mode
    {
        ByteLevel,
        Pieces,
        Generic,
    }

    private static readonly UTF8Encoding Strict = new(false, true);
    private readonly TextTokenizer _tokenizer;
    private readonly bool _skipSpecial;
    private readonly Mode _mode;
    private readonly StringBuilder _out = new();

    // ByteLevel mode.
    private readonly System.Text.Decoder? _utf8;
    private readonly char[] _chars = new char[64];

    // Pieces mode (Replace / ByteFallback / Fuse / Strip / Metaspace decoders).
    private readonly List<(string Pattern, string Content)> _replacements = [];
    private readonly bool _byteFallback;
    private readonly char _metaspace;
    private readonly bool _metaspaceDropFirst;
    private readonly char _stripChar;
    private int _stripRemaining;
    private readonly byte[] _pending = new byte[4];
    private int _pendingCount;
    private int _tokenIndex;

    // Generic mode.
    private readonly List<int> _ids = [];
    private int _emitted;

    internal StreamingDecoder(TextTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecial = skipSpecialTokens;
        var steps = tokenizer.Decoder switch
        {
            null => null,
            SequenceDecoder s => s.Steps.ToList(),
            var single => [single],
        };
        if (steps is not null && steps.Count == 1 && steps[0] is ByteLevelDecoder)
        {
            _mode = Mode.ByteLevel;
            _utf8 = new UTF8Encoding(false, false).GetDecoder();
            return;
        }
        _mode = steps is null ? Mode.Generic : Mode.Pieces;
        bool fused = false;
        foreach (var step in steps ?? [])
        {
            switch (step)
            {
                case ReplaceDecoder r when !fused && !_byteFallback:
                    _replacements.Add((r.Pattern, r.Content));
                    break;
                case ByteFallbackDecoder when !fused:
                    _byteFallback = true;
                    break;
                case FuseDecoder:
                    fused = true;
                    break;
                case StripDecoder s when fused && s.Stop == 0 && _stripRemaining == 0:
                    _stripChar = s.Content;
                    _stripRemaining = s.Start;
                    break;
                case MetaspaceDecoder m when !fused && _metaspace == '\0':
                    _metaspace = m.Replacement;
                    _metaspaceDropFirst = m.DropInFirstToken;
                    break;
                default:
                    _mode = Mode.Generic;
                    break;
            }
        }
    }

    /// <summary>Adds one token; returns the text it completes (often empty).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not in the vocabulary.</exception>
    public string Append(int id)
    {
        string token = _tokenizer.TokenOrThrow(id);
        if (_skipSpecial && _tokenizer.IsSpecial(id))
        {
            return string.Empty;
        }
        _out.Clear();
        switch (_mode)
        {
            case Mode.ByteLevel:
                DecodeBytes(ByteLevelAlphabet.TokenBytes(token), flush: false);
                break;
            case Mode.Pieces:
                AppendPiece(token);
                break;
            default:
                return AppendGeneric(id);
        }
        _tokenIndex++;
        return Take();
    }

    /// <summary>Ends the generation: returns held-back text (a dangling partial UTF-8 sequence as U+FFFD).</summary>
    public string Flush()
    {
        _out.Clear();
        switch (_mode)
        {
            case Mode.ByteLevel:
                DecodeBytes([], flush: true);
                break;
            case Mode.Pieces:
                FlushPendingBytes();
                break;
            default:
            {
                string all = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecial);
                string rest = all.Length > _emitted ? all[_emitted..] : string.Empty;
                _emitted = all.Length;
                return rest;
            }
        }
        return Take();
    }

    private string Take()
    {
        if (_stripRemaining > 0)
        {
            int cut = 0;
            while (_stripRemaining > 0 && cut < _out.Length)
            {
                if (_out[cut] == _stripChar)
                {
                    cut++;
                    _stripRemaining--;
                }
                else
                {
                    _stripRemaining = 0;
                }
            }
            _out.Remove(0, cut);
        }
        return _out.Length == 0 ? string.Empty : _out.ToString();
    }

    private void DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        bool completed = false;
        while (!completed)
        {
            _utf8!.Convert(bytes, _chars, flush, out int used, out int produced, out completed);
            _out.Append(_chars, 0, produced);
            bytes = bytes[used..];
        }
    }

    private void AppendPiece(string token)
    {
        if (_byteFallback)
        {
            int b = ByteFallbackDecoder.ParseByteToken(token);
            if (b >= 0)
            {
                AddByte((byte)b);
                return;
            }
            FlushPendingBytes();
        }
        foreach (var (pattern, content) in _replacements)
        {
            if (pattern.Length > 0)
            {
                token = token.Replace(pattern, content, StringComparison.Ordinal);
            }
        }
        if (_metaspace != '\0')
        {
            token = _tokenIndex == 0 && _metaspaceDropFirst
                ? token.Replace(_metaspace.ToString(), string.Empty, StringComparison.Ordinal)
                : token.Replace(_metaspace, ' ');
        }
        _out.Append(token);
    }

    private static int SequenceLength(byte lead) => lead switch
    {
        < 0x80 => 1,
        >= 0xC2 and <= 0xDF => 2,
        >= 0xE0 and <= 0xEF => 3,
        >= 0xF0 and <= 0xF4 => 4,
        _ => 0,
    };

    private void AddByte(byte b)
    {
        _pending[_pendingCount++] = b;
        while (_pendingCount > 0)
        {
            int need = SequenceLength(_pending[0]);
            if (need == 0)
            {
                DropPending(1);
                continue;
            }
            if (_pendingCount < need)
            {
                return;
            }
            try
            {
                _out.Append(Strict.GetString(_pending, 0, need));
                ShiftPending(need);
            }
            catch (DecoderFallbackException)
            {
                DropPending(1);
            }
        }
    }

    private void DropPending(int count)
    {
        _out.Append('\uFFFD', count);
        ShiftPending(count);
    }

    private void ShiftPending(int count)
    {
        Array.Copy(_pending, count, _pending, 0, _pendingCount - count);
        _pendingCount -= count;
    }

    private void FlushPendingBytes()
    {
        if (_pendingCount > 0)
        {
            DropPending(_pendingCount);
        }
    }

    private string AppendGeneric(int id)
    {
        _ids.Add(id);
        string all = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecial);
        if (all.Length <= _emitted || all[^1] == '\uFFFD')
        {
            return string.Empty;
        }
        string fresh = all[_emitted..];
        _emitted = all.Length;
        return fresh;
    }
}
