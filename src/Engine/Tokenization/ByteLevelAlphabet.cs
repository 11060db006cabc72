namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>GPT-2 <c>bytes_to_unicode</c>: a bijection between the 256 byte values and printable code points.</summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Byte value to its printable stand-in character.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Stand-in character to byte value; -1 for characters outside the alphabet (index up to 0x143).</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[324];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++)
        {
            map[ByteToChar[b]] = (short)b;
        }
        return map;
    }

    /// <summary>Maps the UTF-8 bytes of <paramref name="text"/> to the byte-level alphabet.</summary>
    public static string Encode(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, src) =>
        {
            for (int i = 0; i < src.Length; i++)
            {
                span[i] = ByteToChar[src[i]];
            }
        });
    }

    /// <summary>
    /// Appends the bytes a byte-level token stands for. As HF's ByteLevel decoder does, a token containing a
    /// character outside the alphabet contributes its own UTF-8 bytes instead.
    /// </summary>
    public static void AppendTokenBytes(string token, List<byte> output)
    {
        foreach (char c in token)
        {
            if (c >= CharToByte.Length || CharToByte[c] < 0)
            {
                output.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
        }
        foreach (char c in token)
        {
            output.Add((byte)CharToByte[c]);
        }
    }

    /// <summary>The bytes of a byte-level token (see <see cref="AppendTokenBytes"/>).</summary>
    public static byte[] TokenBytes(string token)
    {
        foreach (char c in token)
        {
            if (c >= CharToByte.Length || CharToByte[c] < 0)
            {
                return System.Text.Encoding.UTF8.GetBytes(token);
            }
        }
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            bytes[i] = (byte)CharToByte[token[i]];
        }
        return bytes;
    }
}
