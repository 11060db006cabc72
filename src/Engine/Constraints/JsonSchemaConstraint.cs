namespace OpenAutoGlm.Engine.Constraints;

/// <summary>
/// An incremental validator for JSON documents matching a <see cref="JsonSchema"/>: a pushdown automaton over characters.
/// Every state it accepts can still be completed (no dead ends), so constrained decoding never gets stuck.
/// Keys and enum strings must be written in their minimal-escape form; whitespace between tokens is limited to short runs.
/// Declared properties appear at most once; additional (free-form) keys are not compared with each other.
/// </summary>
public sealed class JsonSchemaConstraint : ICharConstraint<JsonSchemaConstraint>
{
    /// <summary>Longest number accepted, in characters: keeps a sampled number from running on.</summary>
    public const int MaxNumberLength = 24;

    private enum Phase : byte
    {
        RootBefore, RootAfter,
        ObjectOpen, ObjectKey, ObjectAfterKey, ObjectAfterColon, ObjectAfterValue, ObjectAfterComma,
        ArrayOpen, ArrayAfterValue, ArrayAfterComma,
        String,
        NumberSign, NumberZero, NumberInt, NumberDot, NumberFraction, NumberExponent, NumberExponentSign, NumberExponentDigits,
        Literal,
    }

    private const byte AfterBackslash = 1, HexDone = 10; // escape states: 0 none, 1 after '\', HexDone + k: k hex digits still due

    private struct Frame
    {
        public JsonSchema Schema;
        public Phase Phase;
        public byte Escape;
        public bool FreeKey;      // object key: no declared name matches, an additional property is being named
        public int Count;         // array items, string code points, literal or key characters matched
        public int Lo, Hi;        // literal texts or property keys still matching
        public int Property;      // object: property whose value is parsed (-1: additional)
        public ulong Used;        // object: properties present
    }

    private readonly JsonSchema _schema;
    private readonly int _maxWhitespaceRun;
    private Frame[] _stack = new Frame[8];
    private int _depth;
    private int _whitespaceRun;

    /// <param name="maxWhitespaceRun">Most consecutive whitespace characters allowed between tokens (0: compact JSON only).</param>
    public JsonSchemaConstraint(JsonSchema schema, int maxWhitespaceRun = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxWhitespaceRun);
        _schema = schema;
        _maxWhitespaceRun = maxWhitespaceRun;
        Reset();
    }

    public void Reset()
    {
        _depth = 1;
        _whitespaceRun = 0;
        _stack[0] = new Frame { Schema = _schema, Phase = Phase.RootBefore };
    }

    public JsonSchemaConstraint Clone()
    {
        var c = new JsonSchemaConstraint(_schema, _maxWhitespaceRun);
        c.CopyFrom(this);
        return c;
    }

    public void CopyFrom(JsonSchemaConstraint other)
    {
        if (_stack.Length < other._depth) _stack = new Frame[other._stack.Length];
        Array.Copy(other._stack, _stack, other._depth);
        _depth = other._depth;
        _whitespaceRun = other._whitespaceRun;
    }

    public bool CanEnd
    {
        get
        {
            ref var top = ref _stack[_depth - 1];
            if (_depth == 1) return top.Phase == Phase.RootAfter;
            // A top-level number or literal ends where the text ends.
            return _depth == 2 && IsCompleteScalar(ref top);
        }
    }

    private static bool IsCompleteScalar(ref Frame f) => f.Phase switch
    {
        Phase.NumberZero or Phase.NumberInt or Phase.NumberFraction or Phase.NumberExponentDigits => true,
        Phase.Literal => ((LiteralSchema)f.Schema).TextAt(f.Lo).Length == f.Count,
        _ => false,
    };

    public bool Advance(char c)
    {
        bool isWhitespace = c is ' ' or '\n' or '\t' or '\r';
        while (true)
        {
            ref var f = ref _stack[_depth - 1];
            switch (f.Phase)
            {
                case Phase.RootBefore or Phase.ObjectOpen or Phase.ObjectAfterKey or Phase.ObjectAfterColon
                    or Phase.ObjectAfterValue or Phase.ObjectAfterComma or Phase.ArrayOpen or Phase.ArrayAfterValue or Phase.ArrayAfterComma
                    when isWhitespace:
                    return Whitespace();
                case Phase.RootAfter:
                    return isWhitespace && Whitespace();
                case Phase.RootBefore:
                    return StartValue(_schema, c);

                case Phase.ObjectOpen or Phase.ObjectAfterValue:
                {
                    var o = (ObjectSchema)f.Schema;
                    if (c == '}' && (f.Used & o.RequiredMask) == o.RequiredMask) return Close();
                    if (f.Phase == Phase.ObjectAfterValue)
                    {
                        if (c != ',' || !MoreKeysPossible(ref f, o)) return false;
                        f.Phase = Phase.ObjectAfterComma;
                        return NonWhitespace();
                    }
                    if (c != '"' || !MoreKeysPossible(ref f, o)) return false;
                    BeginKey(ref f, o);
                    return NonWhitespace();
                }
                case Phase.ObjectAfterComma:
                    if (c != '"') return false;
                    BeginKey(ref f, (ObjectSchema)f.Schema);
                    return NonWhitespace();
                case Phase.ObjectKey:
                    return KeyChar(ref f, c);
                case Phase.ObjectAfterKey:
                    if (c != ':') return false;
                    f.Phase = Phase.ObjectAfterColon;
                    return NonWhitespace();
                case Phase.ObjectAfterColon:
                {
                    var o = (ObjectSchema)f.Schema;
                    return StartValue(f.Property >= 0 ? o.Schemas[f.Property] : o.AdditionalProperties!, c);
                }

                case Phase.ArrayOpen:
                {
                    var a = (ArraySchema)f.Schema;
                    if (c == ']') return a.MinItems == 0 && Close();
                    return a.MaxItems != 0 && StartValue(a.Items, c);
                }
                case Phase.ArrayAfterValue:
                {
                    var a = (ArraySchema)f.Schema;
                    if (c == ']') return f.Count >= a.MinItems && Close();
                    if (c != ',' || f.Count >= a.MaxItems) return false;
                    f.Phase = Phase.ArrayAfterComma;
                    return NonWhitespace();
                }
                case Phase.ArrayAfterComma:
                    return StartValue(((ArraySchema)f.Schema).Items, c);

                case Phase.String:
                {
                    var s = (StringSchema)f.Schema;
                    if (f.Escape == 0 && c == '"') return f.Count >= s.MinLength && Close();
                    return StringChar(ref f, c, s.MaxLength);
                }

                case Phase.Literal:
                {
                    var l = (LiteralSchema)f.Schema;
                    if (NarrowLiteral(ref f, l, c))
                    {
                        f.Count++;
                        if (f.Hi - f.Lo == 1 && l.TextAt(f.Lo).Length == f.Count) return Close();
                        return NonWhitespace();
                    }
                    // A complete literal that cannot go on ends here; the character belongs to the enclosing value.
                    if (l.TextAt(f.Lo).Length != f.Count) return false;
                    EndValue();
                    continue;
                }

                default: // number phases
                    if (NumberChar(ref f, c)) return NonWhitespace();
                    if (!IsCompleteScalar(ref f)) return false;
                    EndValue();
                    continue;
            }
        }
    }

    private bool Whitespace()
    {
        if (_whitespaceRun >= _maxWhitespaceRun) return false;
        _whitespaceRun++;
        return true;
    }

    private bool NonWhitespace()
    {
        _whitespaceRun = 0;
        return true;
    }

    private static bool MoreKeysPossible(ref Frame f, ObjectSchema o) => o.AdditionalProperties is not null || f.Used != o.AllMask;

    private static void BeginKey(ref Frame f, ObjectSchema o)
    {
        f.Phase = Phase.ObjectKey;
        f.Count = 0;
        f.Lo = 0;
        f.Hi = o.Keys.Length;
        f.Escape = 0;
        f.FreeKey = false;
    }

    private bool KeyChar(ref Frame f, char c)
    {
        var o = (ObjectSchema)f.Schema;
        if (f.FreeKey)
        {
            if (f.Escape != 0 || c != '"') return StringChar(ref f, c, null);
            f.Property = -1;
            f.Phase = Phase.ObjectAfterKey;
            return NonWhitespace();
        }
        // Declared keys still matching share the typed prefix; its escape state decides what a quote means.
        byte escape = f.Count == 0 ? (byte)0 : EscapeStateAfter(o.Keys[f.Lo], f.Count);
        if (c == '"' && escape == 0)
        {
            // The shortest key of the range is the one typed so far, if any.
            int exact = f.Lo < f.Hi && o.Keys[f.Lo].Length == f.Count ? f.Lo : -1;
            if (exact >= 0 && (f.Used & (1UL << exact)) == 0)
            {
                f.Used |= 1UL << exact;
                f.Property = exact;
            }
            else if (exact < 0 && o.AdditionalProperties is not null) f.Property = -1;
            else return false;
            f.Phase = Phase.ObjectAfterKey;
            return NonWhitespace();
        }
        int lo = f.Lo, hi = f.Hi;
        while (lo < hi && (o.Keys[lo].Length <= f.Count || o.Keys[lo][f.Count] != c)) lo++;
        int end = lo;
        while (end < hi && o.Keys[end].Length > f.Count && o.Keys[end][f.Count] == c) end++;
        // Following a used name is fine only while the name can still turn into an additional property's key.
        bool goesOn = lo < end && o.AdditionalProperties is not null;
        for (int i = lo; i < end && !goesOn; i++) goesOn = (f.Used & (1UL << i)) == 0;
        if (goesOn)
        {
            f.Lo = lo;
            f.Hi = end;
            f.Count++;
            return NonWhitespace();
        }
        if (o.AdditionalProperties is null) return false;
        // The name is no declared one's prefix: from here it is an additional property's free-form key.
        f.FreeKey = true;
        f.Escape = escape;
        return StringChar(ref f, c, null);
    }

    private static byte EscapeStateAfter(string escaped, int length)
    {
        byte escape = 0;
        for (int i = 0; i < length; i++)
        {
            char c = escaped[i];
            escape = escape switch
            {
                0 => c == '\\' ? AfterBackslash : (byte)0,
                AfterBackslash => c == 'u' ? (byte)(HexDone + 4) : (byte)0,
                _ => escape - 1 == HexDone ? (byte)0 : (byte)(escape - 1),
            };
        }
        return escape;
    }

    /// <summary>One character inside a string (not its closing quote); <paramref name="maxLength"/> bounds the code points.</summary>
    private bool StringChar(ref Frame f, char c, int? maxLength)
    {
        switch (f.Escape)
        {
            case 0:
                if (c < 0x20) return false;
                if (char.IsLowSurrogate(c)) return NonWhitespace(); // second half of a code point already counted
                if (f.Count >= maxLength) return false;
                if (c == '\\') f.Escape = AfterBackslash;
                else f.Count++;
                return NonWhitespace();
            case AfterBackslash:
                if (c == 'u') f.Escape = HexDone + 4;
                else if (c is '"' or '\\' or '/' or 'b' or 'f' or 'n' or 'r' or 't') { f.Escape = 0; f.Count++; }
                else return false;
                return NonWhitespace();
            default:
                if (!char.IsAsciiHexDigit(c)) return false;
                if (--f.Escape == HexDone) { f.Escape = 0; f.Count++; }
                return NonWhitespace();
        }
    }

    private static bool NarrowLiteral(ref Frame f, LiteralSchema l, char c)
    {
        int lo = f.Lo, hi = f.Hi;
        while (lo < hi && (l.TextAt(lo).Length <= f.Count || l.TextAt(lo)[f.Count] != c)) lo++;
        int end = lo;
        while (end < hi && l.TextAt(end).Length > f.Count && l.TextAt(end)[f.Count] == c) end++;
        if (lo == end) return false;
        f.Lo = lo;
        f.Hi = end;
        return true;
    }

    private static bool NumberChar(ref Frame f, char c)
    {
        bool integerOnly = ((NumberSchema)f.Schema).IntegerOnly;
        bool digit = char.IsAsciiDigit(c);
        // At the length cap only the one digit an unfinished number still needs is accepted.
        if (f.Count >= MaxNumberLength && (IsCompleteScalar(ref f) || !digit)) return false;
        Phase next;
        switch (f.Phase)
        {
            case Phase.NumberSign:
                if (!digit) return false;
                next = c == '0' ? Phase.NumberZero : Phase.NumberInt;
                break;
            case Phase.NumberZero or Phase.NumberInt:
                if (digit && f.Phase == Phase.NumberInt) next = Phase.NumberInt;
                else if (integerOnly || f.Count + 2 > MaxNumberLength) return false;
                else if (c == '.') next = Phase.NumberDot;
                else if (c is 'e' or 'E') next = Phase.NumberExponent;
                else return false;
                break;
            case Phase.NumberDot or Phase.NumberFraction:
                if (digit) next = Phase.NumberFraction;
                else if (f.Phase == Phase.NumberFraction && c is 'e' or 'E' && f.Count + 2 <= MaxNumberLength) next = Phase.NumberExponent;
                else return false;
                break;
            case Phase.NumberExponent:
                if (digit) next = Phase.NumberExponentDigits;
                else if (c is '+' or '-' && f.Count + 2 <= MaxNumberLength) next = Phase.NumberExponentSign;
                else return false;
                break;
            default: // exponent sign or digits
                if (!digit) return false;
                next = Phase.NumberExponentDigits;
                break;
        }
        f.Phase = next;
        f.Count++;
        return true;
    }

    private bool StartValue(JsonSchema schema, char c)
    {
        if (schema is UnionSchema u)
        {
            foreach (var option in u.Options)
                if (Starts(option, c)) return StartValue(option, c);
            return false;
        }
        if (!Starts(schema, c)) return false;
        var frame = new Frame { Schema = schema };
        switch (schema)
        {
            case ObjectSchema: frame.Phase = Phase.ObjectOpen; break;
            case ArraySchema: frame.Phase = Phase.ArrayOpen; break;
            case StringSchema: frame.Phase = Phase.String; break;
            case NumberSchema:
                frame.Phase = c == '-' ? Phase.NumberSign : c == '0' ? Phase.NumberZero : Phase.NumberInt;
                frame.Count = 1;
                break;
            case LiteralSchema l:
                frame.Phase = Phase.Literal;
                frame.Hi = l.Texts.Count;
                NarrowLiteral(ref frame, l, c);
                frame.Count = 1;
                break;
        }
        Push(frame);
        if (frame.Phase == Phase.Literal && frame.Hi - frame.Lo == 1 && ((LiteralSchema)schema).TextAt(frame.Lo).Length == 1) return Close();
        return NonWhitespace();
    }

    private static bool Starts(JsonSchema schema, char c) => schema switch
    {
        ObjectSchema => c == '{',
        ArraySchema => c == '[',
        StringSchema => c == '"',
        NumberSchema => c == '-' || char.IsAsciiDigit(c),
        LiteralSchema l => FirstCharMatches(l, c),
        _ => false,
    };

    private static bool FirstCharMatches(LiteralSchema l, char c)
    {
        for (int i = 0; i < l.Texts.Count; i++)
            if (l.TextAt(i)[0] == c) return true;
        return false;
    }

    private void Push(in Frame frame)
    {
        if (_depth == _stack.Length) Array.Resize(ref _stack, _depth * 2);
        _stack[_depth++] = frame;
    }

    /// <summary>The top value ends with the character just consumed.</summary>
    private bool Close()
    {
        EndValue();
        return NonWhitespace();
    }

    /// <summary>The top value is complete: pops it and moves its container past the value.</summary>
    private void EndValue()
    {
        _depth--;
        ref var parent = ref _stack[_depth - 1];
        switch (parent.Phase)
        {
            case Phase.RootBefore: parent.Phase = Phase.RootAfter; break;
            case Phase.ObjectAfterColon: parent.Phase = Phase.ObjectAfterValue; break;
            default: parent.Count++; parent.Phase = Phase.ArrayAfterValue; break;
        }
    }
}
