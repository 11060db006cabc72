using System.Text.Json;

namespace OpenAutoGlm.Weights;

/// <summary>
/// A Hugging Face checkpoint directory: <c>model.safetensors</c>, or the shards listed by
/// <c>model.safetensors.index.json</c>, exposed as one set of tensors.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly SafetensorsReader[] _shards;
    private readonly Dictionary<string, SafetensorsReader> _owner;

    public string Directory { get; }
    public IReadOnlyDictionary<string, SafetensorInfo> Tensors { get; }
    public IReadOnlyList<string> Files => _shards.Select(s => s.Path).ToArray();

    private SafetensorsCheckpoint(string directory, SafetensorsReader[] shards, Dictionary<string, SafetensorsReader> owner)
    {
        Directory = directory;
        _shards = shards;
        _owner = owner;
        Tensors = owner.ToDictionary(p => p.Key, p => p.Value.Tensors[p.Key], StringComparer.Ordinal);
    }

    public static SafetensorsCheckpoint Open(string directory)
    {
        string indexPath = Path.Combine(directory, IndexFileName);
        string singlePath = Path.Combine(directory, SingleFileName);
        if (File.Exists(indexPath)) return OpenSharded(directory, indexPath);
        if (File.Exists(singlePath))
        {
            var reader = SafetensorsReader.Open(singlePath);
            return new SafetensorsCheckpoint(directory, [reader], reader.Tensors.Keys.ToDictionary(k => k, _ => reader, StringComparer.Ordinal));
        }
        throw new InvalidModelException($"{directory}: neither {SingleFileName} nor {IndexFileName} found.");
    }

    public float[] ReadAsSingle(string name) => ReaderOf(name).ReadAsSingle(name);

    public void ReadAsSingle(string name, Span<float> destination) => ReaderOf(name).ReadAsSingle(name, destination);

    public void ReadAsSingle(string name, long firstElement, Span<float> destination) => ReaderOf(name).ReadAsSingle(name, firstElement, destination);

    private SafetensorsReader ReaderOf(string name) =>
        _owner.TryGetValue(name, out var reader) ? reader : throw new KeyNotFoundException($"{Directory}: no tensor '{name}'.");

    private static SafetensorsCheckpoint OpenSharded(string directory, string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        var shards = new List<SafetensorsReader>();
        try
        {
            var owner = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
            foreach (var shardName in weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                var shard = SafetensorsReader.Open(Path.Combine(directory, shardName));
                shards.Add(shard);
                foreach (var name in shard.Tensors.Keys)
                {
                    if (owner.TryGetValue(name, out var other))
                        throw new InvalidModelException($"{indexPath}: tensor '{name}' is stored in both {Path.GetFileName(other.Path)} and {shardName}.");
                    if (!weightMap.TryGetValue(name, out var listed))
                        throw new InvalidModelException($"{indexPath}: tensor '{name}' in {shardName} is not listed in weight_map.");
                    if (listed != shardName)
                        throw new InvalidModelException($"{indexPath}: weight_map puts tensor '{name}' in {listed}, but it is in {shardName}.");
                    owner.Add(name, shard);
                }
            }
            var missing = weightMap.Keys.Where(k => !owner.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
                throw new InvalidModelException($"{indexPath}: tensors listed in weight_map but absent from their shard: {string.Join(", ", missing)}.");
            return new SafetensorsCheckpoint(directory, shards.ToArray(), owner);
        }
        catch
        {
            foreach (var shard in shards) shard.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllBytes(indexPath)); }
        catch (JsonException e) { throw new InvalidModelException($"{indexPath}: not valid JSON: {e.Message}", e); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new InvalidModelException($"{indexPath}: no 'weight_map' object.");
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidModelException($"{indexPath}: weight_map entry '{entry.Name}' is {entry.Value.ValueKind}, expected a file name.");
                string shard = entry.Value.GetString()!;
                if (!PlainFileName.IsValid(shard))
                    throw new InvalidModelException($"{indexPath}: shard file name '{shard}' for tensor '{entry.Name}' is not a plain file name inside the checkpoint directory.");
                if (!weightMap.TryAdd(entry.Name, shard))
                    throw new InvalidModelException($"{indexPath}: tensor '{entry.Name}' is listed twice in weight_map.");
            }
            if (weightMap.Count == 0) throw new InvalidModelException($"{indexPath}: weight_map is empty.");
            return weightMap;
        }
    }

    public void Dispose()
    {
        foreach (var shard in _shards) shard.Dispose();
    }
}
