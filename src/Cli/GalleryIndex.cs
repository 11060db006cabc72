using System.IO.Hashing;
using System.Text;
using System.Text.Json;

namespace OpenAutoGlm.Cli;

/// <summary>
/// Image embeddings of a gallery folder, cached beside it in <see cref="FileName"/>. An entry is reused only while its
/// file's size and last-write time are unchanged and the index was made by the same model (hash of model.json) at the
/// same pinned resolution; anything else is embedded again and the index rewritten.
/// </summary>
internal sealed class GalleryIndex
{
    public const string FileName = ".autoglm-index.json";

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly string _key;

    public sealed record Entry(long Length, long LastWriteTicks, float[] Embedding, double Confidence);

    private GalleryIndex(string key) => _key = key;

    /// <summary>The cache identity: the model's manifest and the pinned resolution.</summary>
    public static string KeyFor(string modelDirectory, int? resolution)
    {
        var manifest = File.ReadAllBytes(Path.Combine(modelDirectory, "model.json"));
        return $"{Convert.ToHexStringLower(XxHash64.Hash(manifest))}/{resolution?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "auto"}";
    }

    /// <summary>Reads the folder's index when it was made with <paramref name="key"/>; otherwise an empty one. A damaged index is ignored.</summary>
    public static GalleryIndex Load(string folder, string key)
    {
        var index = new GalleryIndex(key);
        string path = Path.Combine(folder, FileName);
        if (!File.Exists(path)) return index;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.GetProperty("key").GetString() != key) return index;
            foreach (var e in root.GetProperty("images").EnumerateArray())
                index._entries[e.GetProperty("file").GetString()!] = new Entry(
                    e.GetProperty("length").GetInt64(), e.GetProperty("last_write_ticks").GetInt64(),
                    [.. e.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle())], e.GetProperty("confidence").GetDouble());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            index._entries.Clear();
        }
        return index;
    }

    /// <summary>The cached entry of <paramref name="file"/> when the file has not changed since it was embedded.</summary>
    public Entry? Find(FileInfo file) =>
        _entries.TryGetValue(file.Name, out var e) && e.Length == file.Length && e.LastWriteTicks == file.LastWriteTimeUtc.Ticks ? e : null;

    public void Set(FileInfo file, float[] embedding, double confidence) =>
        _entries[file.Name] = new Entry(file.Length, file.LastWriteTimeUtc.Ticks, embedding, confidence);

    /// <summary>Writes the entries of <paramref name="present"/> only, so removed images leave the index.</summary>
    public void Save(string folder, IEnumerable<FileInfo> present)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("key", _key);
            w.WriteStartArray("images");
            foreach (var f in present)
            {
                if (!_entries.TryGetValue(f.Name, out var e)) continue;
                w.WriteStartObject();
                w.WriteString("file", f.Name);
                w.WriteNumber("length", e.Length);
                w.WriteNumber("last_write_ticks", e.LastWriteTicks);
                w.WriteNumber("confidence", e.Confidence);
                w.WriteStartArray("embedding");
                foreach (var v in e.Embedding) w.WriteNumberValue(v);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        File.WriteAllBytes(Path.Combine(folder, FileName), stream.ToArray());
    }

    public int Count => _entries.Count;
}
