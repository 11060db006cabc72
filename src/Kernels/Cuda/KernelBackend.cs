using System.Runtime.CompilerServices;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Launch geometry.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public static Dim3 Blocks(long x, long y = 1, long z = 1)
    {
        if (x <= 0 || y <= 0 || z <= 0 || x > int.MaxValue || y > 65535 || z > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(x), $"grid ({x},{y},{z}) out of range");
        }
        return new Dim3((uint)x, (uint)y, (uint)z);
    }

    public static uint CeilDiv(long n, long d) => checked((uint)((n + d - 1) / d));
}

/// <summary><c>#define</c> specializations of one kernel source, kept in canonical (sorted) order.</summary>
public sealed class KernelDefines : IEquatable<KernelDefines>
{
    private readonly SortedDictionary<string, string> _values = new(StringComparer.Ordinal);

    public static KernelDefines None => new();

    public KernelDefines Set(string name, long value) => Set(name, value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public KernelDefines Set(string name, string value)
    {
        _values[name] = value;
        return this;
    }

    public IEnumerable<KeyValuePair<string, string>> Values => _values;
    public string Key => string.Join(';', _values.Select(kv => $"{kv.Key}={kv.Value}"));
    public override string ToString() => Key;
    public bool Equals(KernelDefines? other) => other is not null && Key == other.Key;
    public override bool Equals(object? obj) => Equals(obj as KernelDefines);
    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);
}

/// <summary>
/// Kernel arguments packed as 8-byte slots; slot i's address is kernelParams[i] for cuLaunchKernel and
/// args[i] for emu_launch, so both paths see the same ABI.
/// </summary>
public unsafe ref struct KernelArgs
{
    public const int MaxArgs = 24;
    private fixed ulong _slots[MaxArgs];
    private int _count;

    public readonly int Count => _count;

    public KernelArgs Ptr(DevicePtr p) { Next() = p.Value; return this; }
    public KernelArgs Int(int v) { ref ulong s = ref Next(); s = 0; Unsafe.As<ulong, int>(ref s) = v; return this; }
    public KernelArgs Float(float v) { ref ulong s = ref Next(); s = 0; Unsafe.As<ulong, float>(ref s) = v; return this; }
    public KernelArgs UInt64(ulong v) { Next() = v; return this; }

    /// <summary>Slot <paramref name="index"/> as stored (for recording a launch).</summary>
    public readonly ulong Slot(int index) => (uint)index < (uint)_count ? _slots[index] : throw new ArgumentOutOfRangeException(nameof(index));

    private ref ulong Next()
    {
        if (_count >= MaxArgs) throw new InvalidOperationException($"more than {MaxArgs} kernel arguments");
        return ref _slots[_count++];
    }

    /// <summary>Fills <paramref name="pointers"/> with slot addresses. The KernelArgs must live on the stack (it is a ref struct).</summary>
    public void FillPointers(void** pointers)
    {
        ulong* baseAddress = (ulong*)Unsafe.AsPointer(ref _slots[0]);
        for (int i = 0; i < _count; i++) pointers[i] = baseAddress + i;
    }
}

/// <summary>
/// One launch abstraction: the op launchers in <c>Ops/</c> run unchanged on a GPU (cuLaunchKernel) or
/// under CPU emulation of the same .cu sources.
/// </summary>
public interface IKernelBackend : IDisposable
{
    /// <summary>"cuda" or "cuda-emu".</summary>
    string Name { get; }

    /// <summary>Target architecture as major*10+minor (e.g. 90).</summary>
    int Arch { get; }

    IDeviceMemory Memory { get; }

    /// <summary>Compiles (cached) and loads <paramref name="sourceName"/> with <paramref name="defines"/>; returns the kernel.</summary>
    CudaFunction GetFunction(string sourceName, string kernelName, KernelDefines defines);

    void Launch(CudaFunction function, Dim3 grid, Dim3 block, uint sharedBytes, scoped ref KernelArgs args);

    void Synchronize();

    /// <summary>
    /// Starts recording: launches until <see cref="EndCapture"/> are recorded, not run. Host work (compiling, copies) must
    /// happen before, since only launches are recorded.
    /// </summary>
    void BeginCapture();

    /// <summary>Stops recording and returns the launches as one replayable graph (a CUDA graph on a GPU).</summary>
    IKernelGraph EndCapture();
}

/// <summary>A recorded launch sequence replayed with the same arguments and buffers; inputs change through device memory.</summary>
public interface IKernelGraph : IDisposable
{
    /// <summary>Enqueues every recorded launch, in order.</summary>
    void Launch();
}

/// <summary>Maps a <c>--device</c> value to a backend: "cuda" / "cuda:N" (GPU) or "cuda-emu" (CPU emulation).</summary>
public static class KernelBackends
{
    public static IKernelBackend Create(string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device == "cuda-emu") return Emulation.EmuBackend.Create();
        if (device == "cuda") return CudaBackend.Open();
        if (device.StartsWith("cuda:", StringComparison.Ordinal) &&
            int.TryParse(device.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int ordinal))
        {
            return CudaBackend.Open(ordinal);
        }
        throw new ArgumentException($"unknown CUDA device '{device}' (expected cuda, cuda:N or cuda-emu)", nameof(device));
    }
}
