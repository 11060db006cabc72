using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Widest vector path a kernel may take; internal so tests can force the narrower twins.</summary>
internal enum VectorIsa
{
    Scalar = 0,
    V128 = 128,
    V256 = 256,
    V512 = 512,
}

internal static class Isa
{
    /// <summary>Best hardware-accelerated width on this machine.</summary>
    public static readonly VectorIsa Best =
        Vector512.IsHardwareAccelerated ? VectorIsa.V512 :
        Vector256.IsHardwareAccelerated ? VectorIsa.V256 :
        Vector128.IsHardwareAccelerated ? VectorIsa.V128 : VectorIsa.Scalar;

    /// <summary>Width the public entry points use; tests lower it (or raise it to run Vector512 code in software).</summary>
    public static VectorIsa Current = Best;
}
