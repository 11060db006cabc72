namespace OpenAutoGlm.Weights;

/// <summary>Element types the safetensors reader accepts; every other safetensors dtype is rejected by name.</summary>
public enum SafetensorsDType
{
    F32,
    F16,
    BF16,
}

public static class SafetensorsDTypes
{
    public static int SizeOf(SafetensorsDType dtype) => dtype == SafetensorsDType.F32 ? 4 : 2;

    public static string ToName(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 => "F32",
        SafetensorsDType.F16 => "F16",
        SafetensorsDType.BF16 => "BF16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool TryParse(string name, out SafetensorsDType dtype)
    {
        switch (name)
        {
            case "F32": dtype = SafetensorsDType.F32; return true;
            case "F16": dtype = SafetensorsDType.F16; return true;
            case "BF16": dtype = SafetensorsDType.BF16; return true;
            default: dtype = default; return false;
        }
    }
}

/// <summary>One tensor of a safetensors file. <see cref="DataOffset"/> is relative to the start of the data buffer.</summary>
public sealed record SafetensorInfo(string Name, SafetensorsDType DType, long[] Shape, long DataOffset, long ByteLength)
{
    public long ElementCount => ByteLength / SafetensorsDTypes.SizeOf(DType);
}
