using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// FP32 GEMM on the calling thread for operands already in FP32 (attention's scores and weighted values):
/// y[q · ldy + r] = Σ_i s · x(r, i) · w[q · wRowStride + i], with x read through a row and a column stride so K (row-major)
/// and Vᵀ (V read down its columns) need no copy of their own.
/// </summary>
/// <remarks>
/// x is packed into panels of one vector of rows, k-major; the kernel broadcasts one w value and multiplies whole panels,
/// so every (r, q) pair is one lane summing in k order with no horizontal reduction, and the results of one q are stored
/// as whole vectors. Each output depends on w row q only through its own arithmetic, so attention's query row t (a w row
/// here) gets the same bits however many query rows share the call.
/// </remarks>
internal static unsafe class MatMulF32
{
    /// <summary>w rows per kernel call: two panels × 6 = 12 accumulators; with the panel vectors and a broadcast, 15 of 16 AVX2 registers.</summary>
    internal const int TileW = 6;

    public static void Multiply(float* x, int xRows, int xRowStride, int xColStride, float scale, int k,
        float* w, int wRows, int wRowStride, float* y, int ldy)
    {
        if (xRows <= 0 || wRows <= 0) return;
        switch (Isa.Current)
        {
            case VectorIsa.V512: Run<Simd512, Vector512<float>>(x, xRows, xRowStride, xColStride, scale, k, w, wRows, wRowStride, y, ldy); break;
            case VectorIsa.V256: Run<Simd256, Vector256<float>>(x, xRows, xRowStride, xColStride, scale, k, w, wRows, wRowStride, y, ldy); break;
            case VectorIsa.V128: Run<Simd128, Vector128<float>>(x, xRows, xRowStride, xColStride, scale, k, w, wRows, wRowStride, y, ldy); break;
            default: Run<SimdScalar, float>(x, xRows, xRowStride, xColStride, scale, k, w, wRows, wRowStride, y, ldy); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Run<TS, TV>(float* x, int xRows, int xrs, int xcs, float scale, int k, float* w, int wRows, int wrs, float* y, int ldy)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int lanes = TS.Count;
        int panels = (xRows + lanes - 1) / lanes;
        float* xt = ThreadScratch.Get(ThreadScratch.PanelInput, (long)panels * k * lanes + 12L * lanes);
        for (int p = 0; p < panels; p++)
            if (xrs == 1) PackColumns<TS, TV>(x + p * lanes, Math.Min(lanes, xRows - p * lanes), xcs, scale, k, xt + (long)p * k * lanes);
            else PackRows(x + (long)p * lanes * xrs, Math.Min(lanes, xRows - p * lanes), xrs, xcs, scale, k, lanes, xt + (long)p * k * lanes);
        TV* acc = (TV*)(xt + (long)panels * k * lanes);
        for (int p = 0; p < panels; p += 2)
        {
            float* xa = xt + (long)p * k * lanes;
            bool pair = p + 1 < panels;
            int valid = Math.Min(2 * lanes, xRows - p * lanes);
            for (int q0 = 0; q0 < wRows; q0 += TileW)
            {
                // The last group overlaps the one before rather than running short: its rows come out with the same bits.
                int q = wRows >= TileW ? Math.Min(q0, wRows - TileW) : q0;
                int count = Math.Min(TileW, wRows - q);
                if (count == TileW)
                {
                    if (pair) Tile2x6<TS, TV>(xa, xa + (long)k * lanes, w + (long)q * wrs, wrs, k, acc, true);
                    else Tile1x6<TS, TV>(xa, w + (long)q * wrs, wrs, k, acc, true);
                }
                else
                    for (int c = 0; c < count; c++) Tail<TS, TV>(xa, pair ? xa + (long)k * lanes : null, w + (long)(q + c) * wrs, k, acc + 2 * c, true);
                for (int c = 0; c < count; c++)
                {
                    float* dst = y + (long)(q + c) * ldy + p * lanes;
                    if (valid == 2 * lanes)
                    {
                        TS.Store(acc[2 * c], dst);
                        TS.Store(acc[2 * c + 1], dst + lanes);
                    }
                    else
                    {
                        float* src = (float*)(acc + 2 * c);
                        for (int l = 0; l < valid; l++) dst[l] = src[l];
                    }
                }
            }
        }
    }

    /// <summary>A panel from x rows that are contiguous across r (x(r, i) = x[r + i · xcs]): one vector copy per i.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void PackColumns<TS, TV>(float* x, int valid, int xcs, float scale, int k, float* dst)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int lanes = TS.Count;
        TV s = TS.Broadcast(scale);
        if (valid == lanes)
        {
            for (int i = 0; i < k; i++, dst += lanes) TS.Store(TS.Multiply(s, TS.Load(x + (long)i * xcs)), dst);
            return;
        }
        for (int i = 0; i < k; i++, dst += lanes)
        {
            float* src = x + (long)i * xcs;
            for (int l = 0; l < lanes; l++) dst[l] = l < valid ? scale * src[l] : 0f;
        }
    }

    /// <summary>A panel from x rows strided by xrs: dst[i · lanes + l] = s · x[l · xrs + i · xcs], zero lanes past the valid rows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void PackRows(float* x, int valid, int xrs, int xcs, float scale, int k, int lanes, float* dst)
    {
        for (int l = 0; l < lanes; l++)
        {
            float* d = dst + l;
            if (l < valid)
            {
                float* src = x + (long)l * xrs;
                for (int i = 0; i < k; i++, d += lanes) *d = scale * src[(long)i * xcs];
            }
            else
                for (int i = 0; i < k; i++, d += lanes) *d = 0f;
        }
    }

    /// <summary>
    /// Two panels × 6 w rows over k: acc[2c] (panel a) and acc[2c + 1] (panel b) for w row c, continued from acc unless
    /// <paramref name="first"/>. Each lane is one (x row, w row) pair summed in k order.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void Tile2x6<TS, TV>(float* xa, float* xb, float* w, int rs, int k, TV* acc, bool first)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero;
        TV b0 = TS.Zero, b1 = TS.Zero, b2 = TS.Zero, b3 = TS.Zero, b4 = TS.Zero, b5 = TS.Zero;
        if (!first)
        {
            a0 = acc[0]; b0 = acc[1]; a1 = acc[2]; b1 = acc[3]; a2 = acc[4]; b2 = acc[5];
            a3 = acc[6]; b3 = acc[7]; a4 = acc[8]; b4 = acc[9]; a5 = acc[10]; b5 = acc[11];
        }
        float* w0 = w, w1 = w + rs, w2 = w1 + rs, w3 = w2 + rs, w4 = w3 + rs, w5 = w4 + rs;
        int lanes = TS.Count;
        for (int i = 0; i < k; i++, xa += lanes, xb += lanes)
        {
            TV u = TS.Load(xa), v = TS.Load(xb);
            TV s = TS.Broadcast(w0[i]); a0 = TS.Fma(u, s, a0); b0 = TS.Fma(v, s, b0);
            s = TS.Broadcast(w1[i]); a1 = TS.Fma(u, s, a1); b1 = TS.Fma(v, s, b1);
            s = TS.Broadcast(w2[i]); a2 = TS.Fma(u, s, a2); b2 = TS.Fma(v, s, b2);
            s = TS.Broadcast(w3[i]); a3 = TS.Fma(u, s, a3); b3 = TS.Fma(v, s, b3);
            s = TS.Broadcast(w4[i]); a4 = TS.Fma(u, s, a4); b4 = TS.Fma(v, s, b4);
            s = TS.Broadcast(w5[i]); a5 = TS.Fma(u, s, a5); b5 = TS.Fma(v, s, b5);
        }
        acc[0] = a0; acc[1] = b0; acc[2] = a1; acc[3] = b1; acc[4] = a2; acc[5] = b2;
        acc[6] = a3; acc[7] = b3; acc[8] = a4; acc[9] = b4; acc[10] = a5; acc[11] = b5;
    }

    /// <summary>One panel × 6 w rows, for an odd last panel: each lane sums as in <see cref="Tile2x6"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void Tile1x6<TS, TV>(float* xa, float* w, int rs, int k, TV* acc, bool first)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero;
        if (!first) { a0 = acc[0]; a1 = acc[2]; a2 = acc[4]; a3 = acc[6]; a4 = acc[8]; a5 = acc[10]; }
        float* w0 = w, w1 = w + rs, w2 = w1 + rs, w3 = w2 + rs, w4 = w3 + rs, w5 = w4 + rs;
        int lanes = TS.Count;
        for (int i = 0; i < k; i++, xa += lanes)
        {
            TV u = TS.Load(xa);
            a0 = TS.Fma(u, TS.Broadcast(w0[i]), a0); a1 = TS.Fma(u, TS.Broadcast(w1[i]), a1);
            a2 = TS.Fma(u, TS.Broadcast(w2[i]), a2); a3 = TS.Fma(u, TS.Broadcast(w3[i]), a3);
            a4 = TS.Fma(u, TS.Broadcast(w4[i]), a4); a5 = TS.Fma(u, TS.Broadcast(w5[i]), a5);
        }
        acc[0] = a0; acc[2] = a1; acc[4] = a2; acc[6] = a3; acc[8] = a4; acc[10] = a5;
    }

    /// <summary>One or two panels × one w row, for calls with fewer than 6 w rows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void Tail<TS, TV>(float* xa, float* xb, float* w, int k, TV* acc, bool first)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int lanes = TS.Count;
        TV a = first ? TS.Zero : acc[0];
        for (int i = 0; i < k; i++) a = TS.Fma(TS.Load(xa + (long)i * lanes), TS.Broadcast(w[i]), a);
        acc[0] = a;
        if (xb == null) return;
        TV b = first ? TS.Zero : acc[1];
        for (int i = 0; i < k; i++) b = TS.Fma(TS.Load(xb + (long)i * lanes), TS.Broadcast(w[i]), b);
        acc[1] = b;
    }
}
