using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// y[t, j] = Σ_i x[t, i] · w[j, i] with w a <see cref="PackedMatrix"/>: FP16 weights converted in registers, FP32
/// activations and accumulation, one kernel family for every row count.
/// <para>Each output is one lane summed in k order (the even column of a pair, then the odd one), whatever the row count:
/// the decode GEMV (one row), a batched decode step and a prefill chunk give a row the same bits, so batching never
/// changes a result.</para>
/// </summary>
public static unsafe class PackedMatMul
{
    // x is pre-scaled by 2^64 so the 2^112 rebias of each converted weight folds into one multiply of the sum by 2^48;
    // 2^64 keeps |x| < 2^64 from overflowing and products of normal-sized weights and activations out of the denormal range.
    private const float InputScale = 18446744073709551616f;  // 2^64
    private const float OutputScale = 281474976710656f;      // 2^48

    /// <summary>The most input rows one tile holds (<see cref="Tile16x1"/>).</summary>
    private const int MaxGroup = 16;

    /// <summary>The widest panel: 16 lanes (Vector512).</summary>
    private const int MaxLanes = 16;

    /// <summary>
    /// Rows of the next tile when <paramref name="remaining"/> rows are left: 16 (32-register ISAs) while 16 are left,
    /// then 8, and a last 1–4 in pairs (32 registers: <see cref="Gemv2"/>, a whole group per pass) or as one 4; a short
    /// group is padded with zero rows.
    /// </summary>
    private static int GroupAt(int remaining, bool wide) => wide && remaining >= 16 ? 16 : remaining > 4 ? 8 : wide ? 2 : 4;

    /// <summary>
    /// With 32 vector registers (AVX-512, Arm64) the tiles hold 16 accumulators (16 rows × 1 panel, 8 rows × 2 panels, 2 rows ×
    /// 8 panels); with 16 (AVX2) half as many (8 × 1, 4 × 2), so nothing spills. All give the same bits.
    /// </summary>
    internal static bool WideTiles = Avx512F.IsSupported || AdvSimd.Arm64.IsSupported;

    /// <summary>
    /// Whether the packed kernels beat the row-major ones (<see cref="MatMul"/>) here: with AVX-512 they did at every row count
    /// (1.1-1.8x, bench `packed`); with AVX2 only the GEMV kept pace and batched rows ran 0.75-0.97x, as the pair layout
    /// needs two registers per weight vector and 16 registers leave too few accumulators.
    /// </summary>
    public static bool FasterHere => Isa.Current == VectorIsa.V512 && Avx512F.IsSupported;

    /// <summary>
    /// Software prefetch distance of the one- and two-row streams, in halves; 0 (the default) issues none. Ten rounds of
    /// `decode-step`: without, the decode step was faster in eight (median 6.32 against 6.84 ms with 16 KiB) — on a single
    /// sequential stream the hardware prefetchers keep up, and eight prefetch instructions per 512 bytes only cost issue slots.
    /// </summary>
    internal static int GemvPrefetchHalves;

    /// <summary>y[rows, n] = x[rows, k] · wᵀ for w = <paramref name="w"/> [n, k]; y is overwritten.</summary>
    public static void Multiply(ReadOnlySpan<float> x, int rows, PackedMatrix w, Span<float> y, WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(pool);
        Guard.NonNegative(rows, nameof(rows));
        Guard.Length(x.Length, (long)rows * w.Columns, nameof(x));
        Guard.Length(y.Length, (long)rows * w.Rows, nameof(y));
        if (rows == 0) return;
        fixed (float* px = x)
        fixed (float* py = y)
        {
            switch (w.Isa)
            {
                case VectorIsa.V512: Run<Simd512, Vector512<float>>(px, rows, w, py, pool); break;
                case VectorIsa.V256: Run<Simd256, Vector256<float>>(px, rows, w, py, pool); break;
                case VectorIsa.V128: Run<Simd128, Vector128<float>>(px, rows, w, py, pool); break;
                default: Run<SimdScalar, float>(px, rows, w, py, pool); break;
            }
        }
    }

    private static void Run<TS, TV>(float* x, int rows, PackedMatrix w, float* y, WorkerPool pool)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int k = w.Columns, pairs = w.Pairs;
        // Input rows in the groups of GroupAt, each packed pair-major ([pairs][rows][2]) and zero-padded, so a tile walks
        // one pointer; a single row is just scaled.
        bool wide = WideTiles;
        int padded = 0;
        if (rows == 1) padded = 1;
        else
            while (padded < rows) padded += GroupAt(rows - padded, wide);
        float* xs = ThreadScratch.Get(ThreadScratch.MatMulInput, (long)padded * pairs * 2);
        for (int g0 = 0, group; g0 < padded; g0 += group)
        {
            group = rows == 1 ? 1 : GroupAt(rows - g0, wide);
            float* dst = xs + (long)g0 * pairs * 2;
            for (int r = 0; r < group; r++)
            {
                int t = g0 + r;
                float* d = dst + 2 * r;
                if (t >= rows)
                {
                    for (int z = 0; z < pairs; z++, d += 2 * group) d[0] = d[1] = 0f;
                    continue;
                }
                float* src = x + (long)t * k;
                int q = 0;
                // Two pairs per vector: one load and multiply, each pair's 8 bytes stored to its place.
                for (var scale = Vector128.Create(InputScale); q + 2 <= k / 2; q += 2, d += 4 * group)
                {
                    var v = (Vector128.Load(src + 2 * q) * scale).AsUInt64();
                    *(ulong*)d = v.GetElement(0);
                    *(ulong*)(d + 2 * group) = v.GetElement(1);
                }
                for (; q < k / 2; q++, d += 2 * group)
                {
                    d[0] = src[2 * q] * InputScale;
                    d[1] = src[2 * q + 1] * InputScale;
                }
                if ((k & 1) != 0) { d[0] = src[k - 1] * InputScale; d[1] = 0f; }
            }
        }
        // Work items of whole groups (192 KiB of weights each at k = 768 on AVX-512), about eight per thread: small enough
        // that a matrix of ten groups still splits evenly, large enough that each is a long sequential stream.
        int perChunk = Math.Max(1, w.Groups / (pool.Threads * 8));
        var body = new Body<TS, TV> { X = xs, W = w, Y = y, Rows = rows, PerChunk = perChunk, Wide = wide };
        pool.For((w.Groups + perChunk - 1) / perChunk, ref body);
    }

    private struct Body<TS, TV> : IParallelBody where TS : struct, ISimd<TV> where TV : unmanaged
    {
        public float* X, Y;
        public PackedMatrix W;
        public int Rows, PerChunk;
        public bool Wide;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Invoke(int index)
        {
            int lanes = TS.Count, groupRows = W.GroupRows, pairs = W.Pairs, n = W.Rows;
            // A tile with padding (rows past the call's, columns past n) writes a stage of [rows][groupRows] whose valid part is
            // copied out, so padding never reaches y; the others write y directly.
            float* stage = stackalloc float[MaxGroup * MaxLanes * PackedMatrix.PanelsPerGroup];
            int g1 = Math.Min(W.Groups, (index + 1) * PerChunk);
            for (int g = index * PerChunk; g < g1; g++)
            {
                Half* wg = W.Group(g);
                int j0 = g * groupRows, columns = Math.Min(groupRows, n - j0);
                if (Rows == 1)
                {
                    Gemv<TS, TV>(wg, pairs, X, columns == groupRows ? Y + j0 : stage);
                    if (columns < groupRows) new ReadOnlySpan<float>(stage, columns).CopyTo(new Span<float>(Y + j0, columns));
                    continue;
                }
                for (int t0 = 0, group; t0 < Rows; t0 += group)
                {
                    group = GroupAt(Rows - t0, Wide);
                    float* xg = X + (long)t0 * pairs * 2;
                    // Only the first row group streams the weights from memory; the others find them in cache.
                    bool prefetch = t0 == 0;
                    int panels = group == 16 ? 1 : group == 8 ? (Wide ? 2 : 1) : 2;
                    bool direct = columns == groupRows && t0 + group <= Rows;
                    float* dst = direct ? Y + (long)t0 * n + j0 : stage;
                    int ldy = direct ? n : groupRows;
                    if (group == 2) Gemv2<TS, TV>(wg, pairs, xg, dst, ldy, prefetch);
                    else for (int p = 0; p < PackedMatrix.PanelsPerGroup; p += panels)
                    {
                        Half* wp = wg + (long)p * lanes * 2;
                        float* yp = dst + p * lanes;
                        if (group == 16) Tile16x1<TS, TV>(wp, pairs, groupRows, xg, yp, ldy, prefetch);
                        else if (group == 8)
                        {
                            if (Wide) Tile8x2<TS, TV>(wp, pairs, groupRows, xg, yp, ldy, prefetch);
                            else Tile8x1<TS, TV>(wp, pairs, groupRows, xg, yp, ldy, prefetch);
                        }
                        else Tile4x2<TS, TV>(wp, pairs, groupRows, xg, yp, ldy, prefetch);
                    }
                    if (direct) continue;
                    for (int r = 0; r < group && t0 + r < Rows; r++)
                        new ReadOnlySpan<float>(stage + r * groupRows, columns).CopyTo(new Span<float>(Y + (long)(t0 + r) * n + j0, columns));
                }
            }
        }
    }

    /// <summary>Prefetches <paramref name="halves"/> halves from <paramref name="p"/>, a line at a time; prefetch never faults.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(Half* p, int halves)
    {
        if (!Sse.IsSupported) return;
        for (int f = 0; f < halves; f += 32) Sse.Prefetch0(p + f);
    }

    /// <summary>One input row against a whole group (8 panels, one accumulator each): the memory-bound decode GEMV, one sequential stream.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gemv<TS, TV>(Half* w, int pairs, float* x, float* y) where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count, run = c * PackedMatrix.PanelsPerGroup * 2, ahead = GemvPrefetchHalves;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
        for (int q = 0; q < pairs; q++, w += run, x += 2)
        {
            if (ahead > 0) Prefetch(w + ahead, run);
            TV x0 = TS.Broadcast(x[0]), x1 = TS.Broadcast(x[1]);
            TS.LoadHalfPairsScaled(w, out TV e, out TV o); a0 = TS.Fma(e, x0, a0); a0 = TS.Fma(o, x1, a0);
            TS.LoadHalfPairsScaled(w + 2 * c, out e, out o); a1 = TS.Fma(e, x0, a1); a1 = TS.Fma(o, x1, a1);
            TS.LoadHalfPairsScaled(w + 4 * c, out e, out o); a2 = TS.Fma(e, x0, a2); a2 = TS.Fma(o, x1, a2);
            TS.LoadHalfPairsScaled(w + 6 * c, out e, out o); a3 = TS.Fma(e, x0, a3); a3 = TS.Fma(o, x1, a3);
            TS.LoadHalfPairsScaled(w + 8 * c, out e, out o); a4 = TS.Fma(e, x0, a4); a4 = TS.Fma(o, x1, a4);
            TS.LoadHalfPairsScaled(w + 10 * c, out e, out o); a5 = TS.Fma(e, x0, a5); a5 = TS.Fma(o, x1, a5);
            TS.LoadHalfPairsScaled(w + 12 * c, out e, out o); a6 = TS.Fma(e, x0, a6); a6 = TS.Fma(o, x1, a6);
            TS.LoadHalfPairsScaled(w + 14 * c, out e, out o); a7 = TS.Fma(e, x0, a7); a7 = TS.Fma(o, x1, a7);
        }
        TV s = TS.Broadcast(OutputScale);
        TS.Store(TS.Multiply(a0, s), y); TS.Store(TS.Multiply(a1, s), y + c); TS.Store(TS.Multiply(a2, s), y + 2 * c);
        TS.Store(TS.Multiply(a3, s), y + 3 * c); TS.Store(TS.Multiply(a4, s), y + 4 * c); TS.Store(TS.Multiply(a5, s), y + 5 * c);
        TS.Store(TS.Multiply(a6, s), y + 6 * c); TS.Store(TS.Multiply(a7, s), y + 7 * c);
    }

    /// <summary>
    /// Two input rows against a whole group (8 panels × 2 rows = 16 accumulators, 32-register ISAs): like the GEMV, one
    /// sequential pass over the group, so steps of 2–4 rows stream their weights at nearly its rate. x: [pairs][2][2].
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Gemv2<TS, TV>(Half* w, int pairs, float* x, float* y, int ldy, bool prefetch) where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count, run = c * PackedMatrix.PanelsPerGroup * 2, ahead = GemvPrefetchHalves;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
        TV b0 = TS.Zero, b1 = TS.Zero, b2 = TS.Zero, b3 = TS.Zero, b4 = TS.Zero, b5 = TS.Zero, b6 = TS.Zero, b7 = TS.Zero;
        for (int q = 0; q < pairs; q++, w += run, x += 4)
        {
            if (prefetch && ahead > 0) Prefetch(w + ahead, run);
            TV u0 = TS.Broadcast(x[0]), u1 = TS.Broadcast(x[1]), v0 = TS.Broadcast(x[2]), v1 = TS.Broadcast(x[3]);
            TS.LoadHalfPairsScaled(w, out TV e, out TV o);
            a0 = TS.Fma(e, u0, a0); a0 = TS.Fma(o, u1, a0); b0 = TS.Fma(e, v0, b0); b0 = TS.Fma(o, v1, b0);
            TS.LoadHalfPairsScaled(w + 2 * c, out e, out o);
            a1 = TS.Fma(e, u0, a1); a1 = TS.Fma(o, u1, a1); b1 = TS.Fma(e, v0, b1); b1 = TS.Fma(o, v1, b1);
            TS.LoadHalfPairsScaled(w + 4 * c, out e, out o);
            a2 = TS.Fma(e, u0, a2); a2 = TS.Fma(o, u1, a2); b2 = TS.Fma(e, v0, b2); b2 = TS.Fma(o, v1, b2);
            TS.LoadHalfPairsScaled(w + 6 * c, out e, out o);
            a3 = TS.Fma(e, u0, a3); a3 = TS.Fma(o, u1, a3); b3 = TS.Fma(e, v0, b3); b3 = TS.Fma(o, v1, b3);
            TS.LoadHalfPairsScaled(w + 8 * c, out e, out o);
            a4 = TS.Fma(e, u0, a4); a4 = TS.Fma(o, u1, a4); b4 = TS.Fma(e, v0, b4); b4 = TS.Fma(o, v1, b4);
            TS.LoadHalfPairsScaled(w + 10 * c, out e, out o);
            a5 = TS.Fma(e, u0, a5); a5 = TS.Fma(o, u1, a5); b5 = TS.Fma(e, v0, b5); b5 = TS.Fma(o, v1, b5);
            TS.LoadHalfPairsScaled(w + 12 * c, out e, out o);
            a6 = TS.Fma(e, u0, a6); a6 = TS.Fma(o, u1, a6); b6 = TS.Fma(e, v0, b6); b6 = TS.Fma(o, v1, b6);
            TS.LoadHalfPairsScaled(w + 14 * c, out e, out o);
            a7 = TS.Fma(e, u0, a7); a7 = TS.Fma(o, u1, a7); b7 = TS.Fma(e, v0, b7); b7 = TS.Fma(o, v1, b7);
        }
        TV s = TS.Broadcast(OutputScale);
        TS.Store(TS.Multiply(a0, s), y); TS.Store(TS.Multiply(a1, s), y + c); TS.Store(TS.Multiply(a2, s), y + 2 * c);
        TS.Store(TS.Multiply(a3, s), y + 3 * c); TS.Store(TS.Multiply(a4, s), y + 4 * c); TS.Store(TS.Multiply(a5, s), y + 5 * c);
        TS.Store(TS.Multiply(a6, s), y + 6 * c); TS.Store(TS.Multiply(a7, s), y + 7 * c);
        y += ldy;
        TS.Store(TS.Multiply(b0, s), y); TS.Store(TS.Multiply(b1, s), y + c); TS.Store(TS.Multiply(b2, s), y + 2 * c);
        TS.Store(TS.Multiply(b3, s), y + 3 * c); TS.Store(TS.Multiply(b4, s), y + 4 * c); TS.Store(TS.Multiply(b5, s), y + 5 * c);
        TS.Store(TS.Multiply(b6, s), y + 6 * c); TS.Store(TS.Multiply(b7, s), y + 7 * c);
    }

    /// <summary>8 input rows × 2 panels = 16 accumulators (32-register ISAs). x: [pairs][8][2]; y rows <paramref name="ldy"/> apart.</summary>
    /// <remarks>Not inlined: a frame of its own keeps the JIT from spilling the pointers of the caller's loops.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x2<TS, TV>(Half* w, int pairs, int groupRows, float* x, float* y, int ldy, bool prefetch)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count, run = 2 * groupRows, ahead = 8 * run;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
        TV b0 = TS.Zero, b1 = TS.Zero, b2 = TS.Zero, b3 = TS.Zero, b4 = TS.Zero, b5 = TS.Zero, b6 = TS.Zero, b7 = TS.Zero;
        for (int q = 0; q < pairs; q++, w += run, x += 16)
        {
            if (prefetch) Prefetch(w + ahead, 4 * c);
            TS.LoadHalfPairsScaled(w, out TV e, out TV o);
            TS.LoadHalfPairsScaled(w + 2 * c, out TV f, out TV h);
            TV u = TS.Broadcast(x[0]); a0 = TS.Fma(e, u, a0); b0 = TS.Fma(f, u, b0); u = TS.Broadcast(x[1]); a0 = TS.Fma(o, u, a0); b0 = TS.Fma(h, u, b0);
            u = TS.Broadcast(x[2]); a1 = TS.Fma(e, u, a1); b1 = TS.Fma(f, u, b1); u = TS.Broadcast(x[3]); a1 = TS.Fma(o, u, a1); b1 = TS.Fma(h, u, b1);
            u = TS.Broadcast(x[4]); a2 = TS.Fma(e, u, a2); b2 = TS.Fma(f, u, b2); u = TS.Broadcast(x[5]); a2 = TS.Fma(o, u, a2); b2 = TS.Fma(h, u, b2);
            u = TS.Broadcast(x[6]); a3 = TS.Fma(e, u, a3); b3 = TS.Fma(f, u, b3); u = TS.Broadcast(x[7]); a3 = TS.Fma(o, u, a3); b3 = TS.Fma(h, u, b3);
            u = TS.Broadcast(x[8]); a4 = TS.Fma(e, u, a4); b4 = TS.Fma(f, u, b4); u = TS.Broadcast(x[9]); a4 = TS.Fma(o, u, a4); b4 = TS.Fma(h, u, b4);
            u = TS.Broadcast(x[10]); a5 = TS.Fma(e, u, a5); b5 = TS.Fma(f, u, b5); u = TS.Broadcast(x[11]); a5 = TS.Fma(o, u, a5); b5 = TS.Fma(h, u, b5);
            u = TS.Broadcast(x[12]); a6 = TS.Fma(e, u, a6); b6 = TS.Fma(f, u, b6); u = TS.Broadcast(x[13]); a6 = TS.Fma(o, u, a6); b6 = TS.Fma(h, u, b6);
            u = TS.Broadcast(x[14]); a7 = TS.Fma(e, u, a7); b7 = TS.Fma(f, u, b7); u = TS.Broadcast(x[15]); a7 = TS.Fma(o, u, a7); b7 = TS.Fma(h, u, b7);
        }
        TV s = TS.Broadcast(OutputScale);
        Store8<TS, TV>(a0, a1, a2, a3, a4, a5, a6, a7, s, y, ldy);
        Store8<TS, TV>(b0, b1, b2, b3, b4, b5, b6, b7, s, y + c, ldy);
    }

    /// <summary>16 input rows × 1 panel = 16 accumulators (32-register ISAs): each converted weight vector serves 16 rows. x: [pairs][16][2].</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile16x1<TS, TV>(Half* w, int pairs, int groupRows, float* x, float* y, int ldy, bool prefetch)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count, run = 2 * groupRows, ahead = 8 * run;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
        TV a8 = TS.Zero, a9 = TS.Zero, a10 = TS.Zero, a11 = TS.Zero, a12 = TS.Zero, a13 = TS.Zero, a14 = TS.Zero, a15 = TS.Zero;
        for (int q = 0; q < pairs; q++, w += run, x += 32)
        {
            if (prefetch) Prefetch(w + ahead, 2 * c);
            TS.LoadHalfPairsScaled(w, out TV e, out TV o);
            a0 = TS.Fma(e, TS.Broadcast(x[0]), a0); a0 = TS.Fma(TS.Broadcast(x[1]), o, a0);
            a1 = TS.Fma(e, TS.Broadcast(x[2]), a1); a1 = TS.Fma(TS.Broadcast(x[3]), o, a1);
            a2 = TS.Fma(e, TS.Broadcast(x[4]), a2); a2 = TS.Fma(TS.Broadcast(x[5]), o, a2);
            a3 = TS.Fma(e, TS.Broadcast(x[6]), a3); a3 = TS.Fma(TS.Broadcast(x[7]), o, a3);
            a4 = TS.Fma(e, TS.Broadcast(x[8]), a4); a4 = TS.Fma(TS.Broadcast(x[9]), o, a4);
            a5 = TS.Fma(e, TS.Broadcast(x[10]), a5); a5 = TS.Fma(TS.Broadcast(x[11]), o, a5);
            a6 = TS.Fma(e, TS.Broadcast(x[12]), a6); a6 = TS.Fma(TS.Broadcast(x[13]), o, a6);
            a7 = TS.Fma(e, TS.Broadcast(x[14]), a7); a7 = TS.Fma(TS.Broadcast(x[15]), o, a7);
            a8 = TS.Fma(e, TS.Broadcast(x[16]), a8); a8 = TS.Fma(TS.Broadcast(x[17]), o, a8);
            a9 = TS.Fma(e, TS.Broadcast(x[18]), a9); a9 = TS.Fma(TS.Broadcast(x[19]), o, a9);
            a10 = TS.Fma(e, TS.Broadcast(x[20]), a10); a10 = TS.Fma(TS.Broadcast(x[21]), o, a10);
            a11 = TS.Fma(e, TS.Broadcast(x[22]), a11); a11 = TS.Fma(TS.Broadcast(x[23]), o, a11);
            a12 = TS.Fma(e, TS.Broadcast(x[24]), a12); a12 = TS.Fma(TS.Broadcast(x[25]), o, a12);
            a13 = TS.Fma(e, TS.Broadcast(x[26]), a13); a13 = TS.Fma(TS.Broadcast(x[27]), o, a13);
            a14 = TS.Fma(e, TS.Broadcast(x[28]), a14); a14 = TS.Fma(TS.Broadcast(x[29]), o, a14);
            a15 = TS.Fma(e, TS.Broadcast(x[30]), a15); a15 = TS.Fma(TS.Broadcast(x[31]), o, a15);
        }
        TV s = TS.Broadcast(OutputScale);
        Store8<TS, TV>(a0, a1, a2, a3, a4, a5, a6, a7, s, y, ldy);
        Store8<TS, TV>(a8, a9, a10, a11, a12, a13, a14, a15, s, y + 8 * ldy, ldy);
    }

    /// <summary>8 input rows × 1 panel = 8 accumulators (16-register ISAs); otherwise as <see cref="Tile8x2"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x1<TS, TV>(Half* w, int pairs, int groupRows, float* x, float* y, int ldy, bool prefetch)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count, run = 2 * groupRows, ahead = 8 * run;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
        for (int q = 0; q < pairs; q++, w += run, x += 16)
        {
            if (prefetch) Prefetch(w + ahead, 2 * c);
            TS.LoadHalfPairsScaled(w, out TV e, out TV o);
            a0 = TS.Fma(e, TS.Broadcast(x[0]), a0); a0 = TS.Fma(o, TS.Broadcast(x[1]), a0);
            a1 = TS.Fma(e, TS.Broadcast(x[2]), a1); a1 = TS.Fma(o, TS.Broadcast(x[3]), a1);
            a2 = TS.Fma(e, TS.Broadcast(x[4]), a2); a2 = TS.Fma(o, TS.Broadcast(x[5]), a2);
            a3 = TS.Fma(e, TS.Broadcast(x[6]), a3); a3 = TS.Fma(o, TS.Broadcast(x[7]), a3);
            a4 = TS.Fma(e, TS.Broadcast(x[8]), a4); a4 = TS.Fma(o, TS.Broadcast(x[9]), a4);
            a5 = TS.Fma(e, TS.Broadcast(x[10]), a5); a5 = TS.Fma(o, TS.Broadcast(x[11]), a5);
            a6 = TS.Fma(e, TS.Broadcast(x[12]), a6); a6 = TS.Fma(o, TS.Broadcast(x[13]), a6);
            a7 = TS.Fma(e, TS.Broadcast(x[14]), a7); a7 = TS.Fma(o, TS.Broadcast(x[15]), a7);
        }
        Store8<TS, TV>(a0, a1, a2, a3, a4, a5, a6, a7, TS.Broadcast(OutputScale), y, ldy);
    }

    /// <summary>4 input rows × 2 panels = 8 accumulators (16-register ISAs). x: [pairs][4][2].</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x2<TS, TV>(Half* w, int pairs, int groupRows, float* x, float* y, int ldy, bool prefetch)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count, run = 2 * groupRows, ahead = 8 * run;
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, b0 = TS.Zero, b1 = TS.Zero, b2 = TS.Zero, b3 = TS.Zero;
        for (int q = 0; q < pairs; q++, w += run, x += 8)
        {
            if (prefetch) Prefetch(w + ahead, 4 * c);
            TS.LoadHalfPairsScaled(w, out TV e, out TV o);
            TS.LoadHalfPairsScaled(w + 2 * c, out TV f, out TV h);
            TV u = TS.Broadcast(x[0]); a0 = TS.Fma(e, u, a0); b0 = TS.Fma(f, u, b0); u = TS.Broadcast(x[1]); a0 = TS.Fma(o, u, a0); b0 = TS.Fma(h, u, b0);
            u = TS.Broadcast(x[2]); a1 = TS.Fma(e, u, a1); b1 = TS.Fma(f, u, b1); u = TS.Broadcast(x[3]); a1 = TS.Fma(o, u, a1); b1 = TS.Fma(h, u, b1);
            u = TS.Broadcast(x[4]); a2 = TS.Fma(e, u, a2); b2 = TS.Fma(f, u, b2); u = TS.Broadcast(x[5]); a2 = TS.Fma(o, u, a2); b2 = TS.Fma(h, u, b2);
            u = TS.Broadcast(x[6]); a3 = TS.Fma(e, u, a3); b3 = TS.Fma(f, u, b3); u = TS.Broadcast(x[7]); a3 = TS.Fma(o, u, a3); b3 = TS.Fma(h, u, b3);
        }
        TV s = TS.Broadcast(OutputScale);
        Store4<TS, TV>(a0, a1, a2, a3, s, y, ldy);
        Store4<TS, TV>(b0, b1, b2, b3, s, y + c, ldy);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store8<TS, TV>(TV a0, TV a1, TV a2, TV a3, TV a4, TV a5, TV a6, TV a7, TV s, float* y, int ldy)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        Store4<TS, TV>(a0, a1, a2, a3, s, y, ldy);
        Store4<TS, TV>(a4, a5, a6, a7, s, y + 4 * ldy, ldy);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store4<TS, TV>(TV a0, TV a1, TV a2, TV a3, TV s, float* y, int ldy)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TS.Store(TS.Multiply(a0, s), y);
        TS.Store(TS.Multiply(a1, s), y + ldy);
        TS.Store(TS.Multiply(a2, s), y + 2 * ldy);
        TS.Store(TS.Multiply(a3, s), y + 3 * ldy);
    }
}
