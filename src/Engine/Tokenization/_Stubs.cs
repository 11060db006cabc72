// TEMPORARY stand-in with the agreed signatures; replaced by the tokenizer.json implementation.
namespace OpenAutoGlm.Engine.Tokenization;
public sealed class TextTokenizer
{
    public static TextTokenizer FromFile(string path) => new();
    public int VocabSize => 0;
    public bool AddsBos => false;
    public int[] Encode(string text, bool addSpecialTokens = true) => text.Select(c => (int)c % 50).ToArray();
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => string.Concat(ids.ToArray().Select(i => i.ToString()));
    public StreamingDecoder CreateStreamingDecoder() => new(this);
}
public sealed class StreamingDecoder(TextTokenizer tokenizer)
{
    public string Append(int id) => tokenizer.Decode([id]);
    public string Flush() => "";
}
