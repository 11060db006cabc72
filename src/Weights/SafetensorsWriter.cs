using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace OpenAutoGlm.Weights;

/// <summary>One tensor to write: little-endian row-major bytes of <see cref="DType"/>.</summary>
public sealed record SafetensorsEntry(string Name, SafetensorsDType DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>Encodes <paramref name="values"/> as <paramref name="dtype"/> (FP16 and BF16 round to nearest even).</summary>
    public static SafetensorsEntry FromSingle(string name, long[] shape, ReadOnlySpan<float> values, SafetensorsDType dtype)
    {
        int size = SafetensorsDTypes.SizeOf(dtype);
        var bytes = new byte[checked(values.Length * size)];
        for (int i = 0; i < values.Length; i++)
        {
            var slot = bytes.AsSpan(i * size, size);
            switch (dtype)
            {
                case SafetensorsDType.F32: BinaryPrimitives.WriteSingleLittleEndian(slot, values[i]); break;
                case SafetensorsDType.F16: BinaryPrimitives.WriteHalfLittleEndian(slot, (Half)values[i]); break;
                default: BinaryPrimitives.WriteUInt16LittleEndian(slot, HalfConversion.SingleToBFloat16(values[i])); break;
            }
        }
        return new SafetensorsEntry(name, dtype, shape, bytes);
    }
}

/// <summary>Writes <c>.safetensors</c> files the way the reference writer does: header padded with spaces to a multiple of 8.</summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = BuildHeader(path, entries, metadata);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        stream.Write(length);
        stream.Write(header);
        foreach (var entry in entries)
            stream.Write(entry.Data.Span);
    }

    private static byte[] BuildHeader(string path, IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            var names = new HashSet<string>(StringComparer.Ordinal);
            long offset = 0;
            foreach (var entry in entries)
            {
                string what = $"{path}: tensor '{entry.Name}'";
                if (!names.Add(entry.Name) || entry.Name == "__metadata__") throw new ArgumentException($"{what} is written twice or uses a reserved name.");
                long bytes = TensorShape.ByteCount(TensorShape.ElementCount(entry.Shape, what), SafetensorsDTypes.SizeOf(entry.DType), what);
                if (bytes != entry.Data.Length)
                    throw new ArgumentException($"{what}: shape {TensorShape.Format(entry.Shape)} needs {bytes} bytes, data has {entry.Data.Length}.");
                json.WriteStartObject(entry.Name);
                json.WriteString("dtype", SafetensorsDTypes.ToName(entry.DType));
                json.WriteStartArray("shape");
                foreach (var dim in entry.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        var header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }
}
