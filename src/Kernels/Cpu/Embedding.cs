using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Token embedding lookup from an FP16 table.</summary>
public static unsafe class Embedding
{
    /// <summary>output[t, :] = table[ids[t], :] as FP32. Ids are validated by the caller (the table size is not known here).</summary>
    public static void Gather(Half* table, int dim, ReadOnlySpan<int> ids, Span<float> output) => Gather(table, dim, ids, output, Isa.Current);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Gather(Half* table, int dim, ReadOnlySpan<int> ids, Span<float> output, VectorIsa isa)
    {
        if (table == null) throw new ArgumentNullException(nameof(table));
        Guard.Positive(dim, nameof(dim));
        Guard.Length(output.Length, (long)ids.Length * dim, nameof(output));
        fixed (float* o = output)
        {
            for (int t = 0; t < ids.Length; t++)
            {
                Half* row = table + (long)ids[t] * dim;
                float* dst = o + (long)t * dim;
                switch (isa)
                {
                    case VectorIsa.V512: HalfConvert.ToSingleCore<Simd512, Vector512<float>>(row, dst, dim); break;
                    case VectorIsa.V256: HalfConvert.ToSingleCore<Simd256, Vector256<float>>(row, dst, dim); break;
                    case VectorIsa.V128: HalfConvert.ToSingleCore<Simd128, Vector128<float>>(row, dst, dim); break;
                    default: HalfConvert.ToSingleCore<SimdScalar, float>(row, dst, dim); break;
                }
            }
        }
    }
}
