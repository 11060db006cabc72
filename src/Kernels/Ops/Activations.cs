using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>SwiGLU and GELU (exact erf and tanh approximation).</summary>
public static class Activations
{
    public const string Source = "Ops/Activations.cu";

    /// <summary>out[r, c] = silu(gate[r, c]) * up[r, c]; input rows are <paramref name="inStride"/> floats apart.</summary>
    public static void SwiGlu(IKernelBackend backend, DevicePtr gate, DevicePtr up, DevicePtr output, int rows, int cols,
        int inStride, int outStride)
    {
        OpChecks.Positive(rows, nameof(rows));
        OpChecks.Positive(cols, nameof(cols));
        OpChecks.That(inStride >= cols, nameof(inStride), inStride, $"inStride must be >= cols ({cols})");
        OpChecks.That(outStride >= cols, nameof(outStride), outStride, $"outStride must be >= cols ({cols})");
        CudaFunction f = backend.GetFunction(Source, "swiglu", KernelDefines.None);
        var args = new KernelArgs().Ptr(gate).Ptr(up).Ptr(output).Int(rows).Int(cols).Int(inStride).Int(outStride);
        // Elementwise grid-stride over rows*cols.
        backend.Launch(f, OpChecks.ElementwiseGrid((long)rows * cols), new Dim3(256), 0, ref args);
    }

    public static void Gelu(IKernelBackend backend, DevicePtr input, DevicePtr output, long count, bool tanhApproximation)
    {
        OpChecks.That(count > 0, nameof(count), count, "count must be positive");
        CudaFunction f = backend.GetFunction(Source, tanhApproximation ? "gelu_tanh" : "gelu_erf", KernelDefines.None);
        var args = new KernelArgs().Ptr(input).Ptr(output).UInt64((ulong)count);
        // Elementwise grid-stride.
        backend.Launch(f, OpChecks.ElementwiseGrid(count), new Dim3(256), 0, ref args);
    }
}
