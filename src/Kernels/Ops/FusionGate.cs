using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Sigmoid fusion gate: h = g⊙f + (1−g)⊙h, g = sigmoid(pre).</summary>
public static class FusionGate
{
    public const string Source = "Ops/FusionGate.cu";

    public static void Run(IKernelBackend backend, DevicePtr hidden, DevicePtr fused, DevicePtr preGate, long count)
    {
        OpChecks.That(count > 0, nameof(count), count, "count must be positive");
        CudaFunction f = backend.GetFunction(Source, "fusion_gate", KernelDefines.None);
        var args = new KernelArgs().Ptr(hidden).Ptr(fused).Ptr(preGate).UInt64((ulong)count);
        // Elementwise, grid-stride: 256 threads, enough blocks to cover count (capped at 65535).
        backend.Launch(f, OpChecks.ElementwiseGrid(count), new Dim3(256), 0, ref args);
    }
}
