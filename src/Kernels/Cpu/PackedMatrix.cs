using System.Runtime.CompilerServices;
using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// An FP16 weight matrix w[n, k] repacked for <see cref="PackedMatMul"/>: lanes run over output rows, so a kernel converts
/// one vector of weights in registers and multiplies it with a broadcast input value for as many input rows as it holds,
/// and no output needs a horizontal sum.
/// <para>Layout: groups of <see cref="GroupRows"/> output rows (8 panels of one vector width each); within a group, for
/// each column pair q, the pair (w[r, 2q], w[r, 2q + 1]) of every row r of the group, row after row. So one column pair of
/// a group is one contiguous run of 4·GroupRows bytes (512 on AVX-512), the decode GEMV reads the whole matrix as a single
/// sequential stream, and each 32-bit lane holds the two halves that <see cref="ISimd{TVec}.LoadHalfPairsScaled"/>
/// splits without a shuffle. Rows past n and the column past an odd k are zeros.</para>
/// <para>The layout depends on the vector width it was packed for (<see cref="Isa"/>); the memory is native, owned by a
/// <see cref="HostMemoryHandle"/> and freed by <see cref="Dispose"/>.</para>
/// </summary>
public sealed unsafe class PackedMatrix : IDisposable
{
    /// <summary>Panels per group: the GEMV keeps one accumulator per panel, eight hide the FMA latency.</summary>
    internal const int PanelsPerGroup = 8;

    private readonly HostMemoryHandle _buffer;

    private PackedMatrix(int n, int k, VectorIsa isa)
    {
        Rows = n;
        Columns = k;
        Isa = isa;
        Lanes = isa switch { VectorIsa.V512 => 16, VectorIsa.V256 => 8, VectorIsa.V128 => 4, _ => 1 };
        Groups = (n + GroupRows - 1) / GroupRows;
        Pairs = (k + 1) / 2;
        long bytes = (long)Groups * Pairs * GroupRows * 4;
        _buffer = HugePages.Allocate(bytes);
        SizeInBytes = bytes;
    }

    /// <summary>Output rows n.</summary>
    public int Rows { get; }

    /// <summary>Input columns k.</summary>
    public int Columns { get; }

    /// <summary>Bytes of packed weights (n and k padded to the layout).</summary>
    public long SizeInBytes { get; }

    internal VectorIsa Isa { get; }
    internal int Lanes { get; }
    internal int GroupRows => Lanes * PanelsPerGroup;
    internal int Groups { get; }
    internal int Pairs { get; }

    /// <summary>Start of group <paramref name="group"/>; <see cref="ObjectDisposedException"/> after <see cref="Dispose"/>.</summary>
    internal Half* Group(int group)
    {
        ObjectDisposedException.ThrowIf(_buffer.IsClosed, this);
        return (Half*)_buffer.DangerousGetHandle() + (long)group * Pairs * GroupRows * 2;
    }

    /// <summary>Packs w (FP16 row-major [n, k]) for the vector width the kernels use on this machine.</summary>
    public static PackedMatrix Pack(Half* w, int n, int k, WorkerPool pool) => Pack(w, n, k, pool, Cpu.Isa.Current);

    internal static PackedMatrix Pack(Half* w, int n, int k, WorkerPool pool, VectorIsa isa)
    {
        if (w == null) throw new ArgumentNullException(nameof(w));
        Guard.Positive(n, nameof(n));
        Guard.Positive(k, nameof(k));
        ArgumentNullException.ThrowIfNull(pool);
        var packed = new PackedMatrix(n, k, isa);
        try
        {
            var body = new PackBody { W = w, N = n, K = k, Packed = packed.Group(0), GroupRows = packed.GroupRows, Pairs = packed.Pairs };
            pool.For(packed.Groups, ref body);
            return packed;
        }
        catch
        {
            packed.Dispose();
            throw;
        }
    }

    /// <summary>Convenience overload that pins <paramref name="w"/> (length n · k).</summary>
    public static PackedMatrix Pack(ReadOnlySpan<Half> w, int n, int k, WorkerPool pool)
    {
        Guard.Length(w.Length, (long)n * k, nameof(w));
        fixed (Half* pw = w) return Pack(pw, n, k, pool);
    }

    internal static PackedMatrix Pack(ReadOnlySpan<Half> w, int n, int k, WorkerPool pool, VectorIsa isa)
    {
        Guard.Length(w.Length, (long)n * k, nameof(w));
        fixed (Half* pw = w) return Pack(pw, n, k, pool, isa);
    }

    /// <summary>w[r, c] as stored, for tests and tools: the inverse of the packing.</summary>
    internal Half this[int r, int c]
    {
        get
        {
            int g = r / GroupRows, q = c / 2;
            return Group(g)[((long)q * GroupRows + r % GroupRows) * 2 + c % 2];
        }
    }

    public void Dispose() => _buffer.Dispose();

    private struct PackBody : IParallelBody
    {
        public Half* W, Packed;
        public int N, K, GroupRows, Pairs;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Invoke(int group)
        {
            // One source row at a time (a sequential read); the writes stride through the group, which stays in L2.
            uint* dst = (uint*)(Packed + (long)group * Pairs * GroupRows * 2);
            int full = K / 2;
            for (int r = 0; r < GroupRows; r++)
            {
                int row = group * GroupRows + r;
                uint* d = dst + r;
                if (row >= N)
                {
                    for (int q = 0; q < Pairs; q++) d[(long)q * GroupRows] = 0;
                    continue;
                }
                ushort* src = (ushort*)(W + (long)row * K);
                for (int q = 0; q < full; q++) d[(long)q * GroupRows] = src[2 * q] | (uint)src[2 * q + 1] << 16;
                if (full < Pairs) d[(long)full * GroupRows] = src[K - 1];
            }
        }
    }
}
