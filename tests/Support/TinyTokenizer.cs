using System.Text.Json.Nodes;
using OpenAutoGlm.Engine.Tokenization;

namespace OpenAutoGlm.Tests.Support;

/// <summary>A byte-level BPE tokenizer.json over all 256 bytes plus a few JSON-shaped pieces and &lt;s&gt; / &lt;/s&gt;, for tiny models with text.</summary>
public static class TinyTokenizer
{
    private static readonly string[] Pieces = ["{\"", "\":", "\",\"", "\"}", "true", "false", "null", "12", "name", "\"]", "[\"", "},{", " \""];

    public static int VocabSize => 256 + Pieces.Length + 2;
    public static int Bos => 256 + Pieces.Length;
    public static int Eos => Bos + 1;

    /// <summary>Writes the tokenizer.json to <paramref name="path"/> and returns the path.</summary>
    public static string Write(string path)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        for (int i = 0; i < Pieces.Length; i++)
            vocab[string.Concat(System.Text.Encoding.UTF8.GetBytes(Pieces[i]).Select(b => ByteLevelAlphabet.ByteToChar[b]))] = 256 + i;
        JsonObject Special(int id, string content) => new()
        {
            ["id"] = id, ["content"] = content, ["special"] = true, ["normalized"] = false, ["lstrip"] = false, ["rstrip"] = false, ["single_word"] = false,
        };
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Special(Bos, "<s>"), Special(Eos, "</s>")),
            ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel.DeepClone(),
            ["post_processor"] = null,
            ["decoder"] = byteLevel.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }
}
