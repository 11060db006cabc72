using Xunit;
using System.Buffers.Binary;
using System.Text;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Weights;

public class SafetensorsReaderTests
{
    /// <summary>Writes a file from a raw header and data buffer; <paramref name="declaredLength"/> overrides the length prefix.</summary>
    private static string WriteRaw(TempDirectory dir, string header, int dataBytes, ulong? declaredLength = null) =>
        WriteRaw(dir, Encoding.UTF8.GetBytes(header), dataBytes, declaredLength);

    private static string WriteRaw(TempDirectory dir, byte[] header, int dataBytes, ulong? declaredLength = null)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        for (int i = 8 + header.Length; i < bytes.Length; i++) bytes[i] = (byte)i;
        string path = dir.Combine("model.safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(SafetensorsDType.F32)]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    public void WrittenTensorsReadBackAsSingle(SafetensorsDType dtype)
    {
        using var dir = new TempDirectory();
        float[] a = [1f, -2.5f, 0.125f, 3f, 1024f, -0.0625f];
        float[] b = [7f];
        string path = dir.Combine("t.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsEntry.FromSingle("a", [2, 3], a, dtype), SafetensorsEntry.FromSingle("b", [], b, dtype)],
            new Dictionary<string, string> { ["format"] = "pt" });

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal("pt", reader.Metadata["format"]);
        Assert.Equal(dtype, reader.Tensors["a"].DType);
        Assert.Equal([2L, 3L], reader.Tensors["a"].Shape);
        Assert.Empty(reader.Tensors["b"].Shape);
        Assert.Equal(a, reader.ReadAsSingle("a"));
        Assert.Equal(b, reader.ReadAsSingle("b"));
        var tail = new float[2];
        reader.ReadAsSingle("a", 4, tail);
        Assert.Equal([1024f, -0.0625f], tail);
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(path)) % 8);
    }

    [Theory]
    [InlineData("F32", 4)]
    [InlineData("F16", 2)]
    [InlineData("BF16", 2)]
    public void MisalignedDataIsCopied(string dtype, int size)
    {
        using var dir = new TempDirectory();
        // An unpadded 1-byte-odd header plus a 1-byte gap leaves the tensor at an odd file offset.
        string header = $"{{\"x\":{{\"dtype\":\"{dtype}\",\"shape\":[3],\"data_offsets\":[1,{1 + 3 * size}]}}}}";
        if (header.Length % 2 == 0) header += " ";
        var values = new float[] { 1.5f, -2f, 0.25f };
        var encoded = SafetensorsEntry.FromSingle("x", [3], values, Enum.Parse<SafetensorsDType>(dtype)).Data.ToArray();
        string path = WriteRaw(dir, header, 1 + encoded.Length);
        var bytes = File.ReadAllBytes(path);
        encoded.CopyTo(bytes, 8 + header.Length + 1);
        File.WriteAllBytes(path, bytes);

        using var reader = SafetensorsReader.Open(path);
        Assert.Equal(values, reader.ReadAsSingle("x"));
    }

    [Fact]
    public void ZeroSizedTensorsAreAllowed()
    {
        using var dir = new TempDirectory();
        string path = WriteRaw(dir, """{"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4);
        using var reader = SafetensorsReader.Open(path);
        Assert.Empty(reader.ReadAsSingle("e"));
    }

    public static TheoryData<string, int, string> HostileHeaders => new()
    {
        { "[1,2,3]", 0, "expected an object" },
        { "{\"x\":", 0, "not valid JSON" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "overlap" },
        { """{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 12" },
        { """{"x":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}}""", 8, "more elements than fit in 64 bits" },
        { """{"x":{"dtype":"F16","shape":[4611686018427387904],"data_offsets":[0,8]}}""", 8, "overflow" },
        { """{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8, "unsupported dtype I64 for tensor 'x'" },
        { """{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "beyond the data buffer" },
        { """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "duplicate key 'x'" },
        { """{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "non-negative" },
        { """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", 4, "expected 2" },
        { """{"x":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", 8, "end before they begin" },
        { """{"x":{"shape":[1],"data_offsets":[0,4]}}""", 4, "no string 'dtype'" },
        { """{"__metadata__":{"format":1},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4, "expected a string" },
    };

    [Theory]
    [MemberData(nameof(HostileHeaders))]
    public void HostileHeadersAreRejectedWithTheProblem(string header, int dataBytes, string problem)
    {
        using var dir = new TempDirectory();
        string path = WriteRaw(dir, header, dataBytes);
        var e = Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(path));
        Assert.Contains(problem, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TruncatedFileIsRejected()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("model.safetensors");
        File.WriteAllBytes(path, [1, 2, 3, 4]);
        Assert.Contains("truncated", Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(path)).Message);
    }

    [Fact]
    public void TruncatedDataIsRejected()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("model.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsEntry.FromSingle("x", [64], new float[64], SafetensorsDType.F32)]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);
        Assert.Contains("beyond the data buffer", Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(path)).Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        using var dir = new TempDirectory();
        string path = WriteRaw(dir, "{}", 0, declaredLength: 1000);
        Assert.Contains("beyond the end of the file", Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(path)).Message);
    }

    [Fact]
    public void HugeHeaderLengthIsRejectedBeforeAnyAllocation()
    {
        using var dir = new TempDirectory();
        string path = WriteRaw(dir, "{}", 0, declaredLength: ulong.MaxValue);
        Assert.Contains("exceeds the limit", Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(path)).Message);
    }

    [Fact]
    public void InvalidUtf8HeaderIsRejected()
    {
        using var dir = new TempDirectory();
        string path = WriteRaw(dir, [(byte)'{', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'], 0);
        Assert.Contains("UTF-8", Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(path)).Message);
    }

    [Fact]
    public void MissingFileIsReported()
    {
        using var dir = new TempDirectory();
        Assert.Contains("not found", Assert.Throws<InvalidModelException>(() => SafetensorsReader.Open(dir.Combine("none.safetensors"))).Message);
    }

    [Fact]
    public void ReadingOutsideATensorThrows()
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("t.safetensors");
        SafetensorsWriter.Write(path, [SafetensorsEntry.FromSingle("x", [4], new float[4], SafetensorsDType.F16)]);
        using var reader = SafetensorsReader.Open(path);
        Assert.Throws<ArgumentOutOfRangeException>(() => reader.ReadAsSingle("x", 2, new float[3]));
        Assert.Throws<ArgumentException>(() => reader.ReadAsSingle("x", new float[3]));
        Assert.Throws<KeyNotFoundException>(() => reader.ReadAsSingle("y"));
    }
}
