using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace OpenAutoGlm.Weights;

/// <summary>
/// One memory-mapped <c>.safetensors</c> file. The header is validated completely on open, so a lying
/// header is reported before any tensor is touched.
/// </summary>
public sealed unsafe class SafetensorsReader : IDisposable
{
    /// <summary>The reference implementation's limit; a larger header is treated as hostile.</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly MappedFile _file;
    private readonly long _dataStart;

    public string Path => _file.Path;
    public IReadOnlyDictionary<string, SafetensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsReader(MappedFile file, long dataStart, Dictionary<string, SafetensorInfo> tensors, Dictionary<string, string> metadata)
    {
        _file = file;
        _dataStart = dataStart;
        Tensors = tensors;
        Metadata = metadata;
    }

    public static SafetensorsReader Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            var (dataStart, tensors, metadata) = ParseHeader(file);
            return new SafetensorsReader(file, dataStart, tensors, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public SafetensorInfo GetInfo(string name) =>
        Tensors.TryGetValue(name, out var info) ? info : throw new KeyNotFoundException($"{Path}: no tensor '{name}'.");

    public float[] ReadAsSingle(string name)
    {
        var info = GetInfo(name);
        if (info.ElementCount > Array.MaxLength) throw new InvalidModelException($"{Path}: tensor '{name}' has {info.ElementCount} elements, too many for one array.");
        var values = new float[info.ElementCount];
        ReadAsSingle(name, 0, values);
        return values;
    }

    /// <summary>Reads the whole tensor, converted to float; <paramref name="destination"/> must hold exactly its elements.</summary>
    public void ReadAsSingle(string name, Span<float> destination)
    {
        var info = GetInfo(name);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"{Path}: tensor '{name}' has {info.ElementCount} elements, destination holds {destination.Length}.", nameof(destination));
        ReadAsSingle(name, 0, destination);
    }

    /// <summary>Reads <c>destination.Length</c> elements starting at element <paramref name="firstElement"/> (row-major), converted to float.</summary>
    public void ReadAsSingle(string name, long firstElement, Span<float> destination)
    {
        var info = GetInfo(name);
        if (firstElement < 0 || firstElement > info.ElementCount - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(firstElement), $"{Path}: elements [{firstElement}, {firstElement + destination.Length}) are outside tensor '{name}' of {info.ElementCount} elements.");
        int size = SafetensorsDTypes.SizeOf(info.DType);
        long start = _dataStart + info.DataOffset + firstElement * size;
        // Chunks keep each byte span under 2 GiB however large the destination is.
        const int chunkElements = 1 << 24;
        for (int done = 0; done < destination.Length; done += chunkElements)
        {
            int count = Math.Min(chunkElements, destination.Length - done);
            Widen(_file.Bytes(start + (long)done * size, count * size), info.DType, destination.Slice(done, count));
        }
    }

    /// <summary>Little-endian F32/F16/BF16 bytes to floats; the source may have any alignment.</summary>
    internal static void Widen(ReadOnlySpan<byte> source, SafetensorsDType dtype, Span<float> destination)
    {
        var destinationBytes = MemoryMarshal.AsBytes(destination);
        if (dtype == SafetensorsDType.F32)
        {
            source.CopyTo(destinationBytes);
            return;
        }
        // Stage the 2-byte values in the upper half of the destination, then widen front to back:
        // writing element i never reaches staged element i + 1, so no scratch buffer is needed.
        var upperHalf = destinationBytes[(destinationBytes.Length / 2)..];
        source.CopyTo(upperHalf);
        var staged = MemoryMarshal.Cast<byte, ushort>(upperHalf);
        if (dtype == SafetensorsDType.F16)
        {
            for (int i = 0; i < destination.Length; i++)
                destination[i] = (float)BitConverter.UInt16BitsToHalf(staged[i]);
        }
        else
        {
            for (int i = 0; i < destination.Length; i++)
                destination[i] = HalfConversion.BFloat16ToSingle(staged[i]);
        }
    }

    private static (long DataStart, Dictionary<string, SafetensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(MappedFile file)
    {
        string path = file.Path;
        if (file.Length < 8) throw new InvalidModelException($"{path}: truncated: {file.Length} bytes, shorter than the 8-byte header length.");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file.Bytes(0, 8));
        if (headerLength > MaxHeaderLength)
            throw new InvalidModelException($"{path}: header length {headerLength} exceeds the limit of {MaxHeaderLength} bytes.");
        if ((long)headerLength > file.Length - 8)
            throw new InvalidModelException($"{path}: header length {headerLength} is beyond the end of the file ({file.Length} bytes).");

        var header = file.Bytes(8, (int)headerLength);
        if (!Utf8.IsValid(header)) throw new InvalidModelException($"{path}: header is not valid UTF-8.");

        long dataStart = 8 + (long)headerLength;
        long dataLength = file.Length - dataStart;
        var tensors = new Dictionary<string, SafetensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);

        JsonDocument document;
        try { document = JsonDocument.Parse(header.ToArray()); }
        catch (JsonException e) { throw new InvalidModelException($"{path}: header is not valid JSON: {e.Message}", e); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidModelException($"{path}: header is JSON {document.RootElement.ValueKind}, expected an object.");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name)) throw new InvalidModelException($"{path}: duplicate key '{property.Name}' in header.");
                if (property.Name == "__metadata__")
                    ReadMetadata(path, property.Value, metadata);
                else
                    tensors.Add(property.Name, ReadTensorEntry(path, property.Name, property.Value, dataLength));
            }
        }
        CheckNoOverlaps(path, tensors.Values);
        return (dataStart, tensors, metadata);
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object) throw new InvalidModelException($"{path}: __metadata__ is {value.ValueKind}, expected an object of strings.");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new InvalidModelException($"{path}: __metadata__ value '{entry.Name}' is {entry.Value.ValueKind}, expected a string.");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new InvalidModelException($"{path}: duplicate key '{entry.Name}' in __metadata__.");
        }
    }

    private static SafetensorInfo ReadTensorEntry(string path, string name, JsonElement entry, long dataLength)
    {
        string what = $"{path}: tensor '{name}'";
        if (entry.ValueKind != JsonValueKind.Object) throw new InvalidModelException($"{what} is {entry.ValueKind}, expected an object.");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new InvalidModelException($"{what} has no string 'dtype'.");
        string dtypeName = dtypeElement.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeName, out var dtype))
            throw new InvalidModelException($"{path}: unsupported dtype {dtypeName} for tensor '{name}' (supported: F32, F16, BF16).");

        var shape = ReadNonNegativeIntegers(what, entry, "shape", expectedCount: null);
        var offsets = ReadNonNegativeIntegers(what, entry, "data_offsets", expectedCount: 2);
        long begin = offsets[0], end = offsets[1];

        long elements = TensorShape.ElementCount(shape, what);
        long bytes = TensorShape.ByteCount(elements, SafetensorsDTypes.SizeOf(dtype), what);
        if (end < begin) throw new InvalidModelException($"{what}: data_offsets [{begin}, {end}] end before they begin.");
        if (end > dataLength) throw new InvalidModelException($"{what}: data_offsets [{begin}, {end}] reach beyond the data buffer of {dataLength} bytes (file truncated?).");
        if (end - begin != bytes)
            throw new InvalidModelException($"{what}: data_offsets [{begin}, {end}] span {end - begin} bytes but shape {TensorShape.Format(shape)} of {dtypeName} needs {bytes}.");
        return new SafetensorInfo(name, dtype, shape, begin, bytes);
    }

    private static long[] ReadNonNegativeIntegers(string what, JsonElement entry, string key, int? expectedCount)
    {
        if (!entry.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidModelException($"{what} has no array '{key}'.");
        int count = array.GetArrayLength();
        if (expectedCount is int expected && count != expected)
            throw new InvalidModelException($"{what}: '{key}' has {count} entries, expected {expected}.");
        var values = new long[count];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
                throw new InvalidModelException($"{what}: '{key}' entry {item.GetRawText()} is not a non-negative 64-bit integer.");
            values[i++] = value;
        }
        return values;
    }

    private static void CheckNoOverlaps(string path, IEnumerable<SafetensorInfo> tensors)
    {
        SafetensorInfo? previous = null;
        foreach (var t in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.DataOffset))
        {
            if (previous is not null && t.DataOffset < previous.DataOffset + previous.ByteLength)
                throw new InvalidModelException(
                    $"{path}: tensors '{previous.Name}' [{previous.DataOffset}, {previous.DataOffset + previous.ByteLength}) and '{t.Name}' [{t.DataOffset}, {t.DataOffset + t.ByteLength}) overlap.");
            previous = t;
        }
    }

    public void Dispose() => _file.Dispose();
}
