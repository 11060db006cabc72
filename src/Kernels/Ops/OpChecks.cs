using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

internal static class OpChecks
{
    public static void Positive(int value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive (got {value})");
    }

    public static void NonNegative(int value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be non-negative (got {value})");
    }

    public static void NotNull(DevicePtr p, string name)
    {
        if (p.IsNull) throw new ArgumentNullException(name, $"{name} is a null device pointer");
    }

    public static void That(bool condition, string name, object value, string message)
    {
        if (!condition) throw new ArgumentOutOfRangeException(name, value, $"{message} (got {name} = {value})");
    }

    /// <summary>Grid for a grid-stride elementwise kernel: enough 256-thread blocks to cover n, capped (the loop covers the rest).</summary>
    public static Dim3 ElementwiseGrid(long n) => new((uint)Math.Clamp((n + 255) / 256, 1, 65535));
}
