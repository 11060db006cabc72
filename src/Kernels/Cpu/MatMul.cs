using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>FP16-weight matrix multiply: y[t, n] = Σ_k x[t, k] · w[n, k], FP32 activations and accumulation.</summary>
public static unsafe class MatMul
{
    /// <summary>
    /// From this many rows on, one pass over the weights serves every row (the skinny kernel, then the GEMMs); a single row
    /// takes the GEMV. Two or three rows run as a zero-padded skinny group of four: the step stays one weight stream
    /// instead of one per row.
    /// </summary>
    internal const int GemmMinRows = 2;

    // GEMV pre-scales x by 2^64 so the 2^112 rebias of each weight folds into one multiply of the sum by 2^48;
    // 2^64 keeps |x| < 2^64 from overflowing and products of normal-sized weights and activations out of the denormal range.
    private const float GemvInputScale = 18446744073709551616f;      // 2^64
    private const float GemvOutputScale = 281474976710656f;          // 2^48

    /// <summary>
    /// y[t, n] = Σ_k x[t, k] · w[n, k] for t &lt; rows, n &lt; n. w: FP16 row-major [n, k]; x: FP32 [rows, k];
    /// y: FP32 [rows, n], overwritten. rows == 1 is the memory-bound decode GEMV; larger rows use a blocked GEMM.
    /// </summary>
    public static void Multiply(ReadOnlySpan<float> x, int rows, int k, Half* w, int n, Span<float> y, WorkerPool pool)
        => Multiply(x, rows, k, w, n, y, pool, Isa.Current);

    /// <summary>Convenience overload that pins <paramref name="w"/> (length n · k).</summary>
    public static void Multiply(ReadOnlySpan<float> x, int rows, int k, ReadOnlySpan<Half> w, int n, Span<float> y, WorkerPool pool)
    {
        Guard.Length(w.Length, (long)n * k, nameof(w));
        fixed (Half* pw = w) Multiply(x, rows, k, pw, n, y, pool, Isa.Current);
    }

    internal static void Multiply(ReadOnlySpan<float> x, int rows, int k, Half* w, int n, Span<float> y, WorkerPool pool, VectorIsa isa)
    {
        Guard.NonNegative(rows, nameof(rows));
        Guard.Positive(k, nameof(k));
        Guard.Positive(n, nameof(n));
        ArgumentNullException.ThrowIfNull(pool);
        if (w == null) throw new ArgumentNullException(nameof(w));
        Guard.Length(x.Length, (long)rows * k, nameof(x));
        Guard.Length(y.Length, (long)rows * n, nameof(y));
        if (rows == 0) return;

        fixed (float* px = x)
        fixed (float* py = y)
        {
            switch (isa)
            {
                case VectorIsa.V512: Run<Simd512, Vector512<float>>(px, rows, k, w, n, py, pool); break;
                case VectorIsa.V256: Run<Simd256, Vector256<float>>(px, rows, k, w, n, py, pool); break;
                case VectorIsa.V128: Run<Simd128, Vector128<float>>(px, rows, k, w, n, py, pool); break;
                default: Run<SimdScalar, float>(px, rows, k, w, n, py, pool); break;
            }
        }
    }

    private static void Run<TS, TV>(float* x, int rows, int k, Half* w, int n, float* y, WorkerPool pool)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        if (rows < GemmMinRows)
        {
            // One row: the decode GEMV.
            float* xs = ThreadScratch.Get(ThreadScratch.MatMulInput, k);
            VectorOps.PackPairs(x, GemvInputScale, xs, k, IsaOf<TS, TV>());
            int chunkRows = StreamChunkRows(n, pool);
            var body = new GemvBody<TS, TV> { X = xs, W = w, Y = y, K = k, N = n, ChunkRows = chunkRows };
            pool.For((n + chunkRows - 1) / chunkRows, ref body);
            return;
        }

        int kp = (k + TS.Count - 1) / TS.Count * TS.Count;
        if (rows <= SkinnyMaxRows)
        {
            RunSkinny<TS, TV>(x, rows, k, kp, w, n, y, pool);
            return;
        }
        if (rows >= PanelMinRows)
        {
            RunPanels<TS, TV>(x, rows, k, w, n, y, pool);
            return;
        }
        float* xp = x;
        // Two or more rows after the last full x tile run as one more full tile with zero rows (results dropped): a row of
        // its own runs latency-bound at a quarter of the tile's rate, and both give a pair the same bits.
        int tileX = TS.Count >= 16 ? 6 : 4;
        int padded = rows % tileX >= 2 ? rows + tileX - rows % tileX : rows;
        if (kp != k || padded != rows)
        {
            // Zero-pad rows to the vector width so the micro-kernel has no k tail.
            xp = ThreadScratch.Get(ThreadScratch.MatMulInput, (long)padded * kp);
            for (int t = 0; t < rows; t++)
            {
                new ReadOnlySpan<float>(x + (long)t * k, k).CopyTo(new Span<float>(xp + (long)t * kp, k));
                new Span<float>(xp + (long)t * kp + k, kp - k).Clear();
            }
            new Span<float>(xp + (long)rows * kp, (padded - rows) * kp).Clear();
        }

        int tileW = TS.Count >= 16 ? 4 : 3;
        // A block of FP32 weights (converted once per block) sized to stay well inside L2 while x tiles stream through.
        int blockRows = Math.Max(1, 32768 / kp) / (tileW * 2) * (tileW * 2);
        if (blockRows == 0) blockRows = tileW;
        // Keep enough blocks for every thread to get several.
        int maxBlock = Math.Max(tileW, (n / (pool.Threads * 3)) / tileW * tileW);
        blockRows = Math.Min(blockRows, maxBlock);
        var gemm = new GemmBody<TS, TV> { X = xp, W = w, Y = y, Rows = padded, ValidRows = rows, K = k, Kp = kp, N = n, BlockRows = blockRows };
        pool.For((n + blockRows - 1) / blockRows, ref gemm);
    }

    /// <summary>
    /// From this many rows on (prefill, the vision encoder) the panel GEMM runs instead of the register-tile GEMM: x packed
    /// into panels of one vector of rows, weights broadcast from the FP32 block, so no pair needs a horizontal reduction.
    /// It measured 8–14 % faster from 32 rows on (bench `gemm-rows`, `encoder-ops`) but loses below that, where partial
    /// panels waste lanes; 64 keeps batched decode steps on the tile GEMM. A row's bits depend on which side it runs.
    /// </summary>
    internal static int PanelMinRows = 64;

    /// <summary>Depth of one k slice of the panel GEMM: two panels of this depth (32 KiB on AVX2) stay in L1 while every weight group passes.</summary>
    internal static int PanelKSlice = 512;

    /// <summary>FP32 weight rows per block of the panel GEMM (a multiple of <see cref="MatMulF32.TileW"/>).</summary>
    internal const int PanelBlockRows = 48;

    private static void RunPanels<TS, TV>(float* x, int rows, int k, Half* w, int n, float* y, WorkerPool pool)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int lanes = TS.Count;
        int panels = (rows + lanes - 1) / lanes;
        float* xt = ThreadScratch.Get(ThreadScratch.MatMulInput, (long)panels * k * lanes);
        var pack = new PackPanelsBody { X = x, Rows = rows, K = k, Lanes = lanes, Xt = xt };
        pool.For(panels, ref pack);
        int tileW = MatMulF32.TileW;
        int blockRows = Math.Min(PanelBlockRows, Math.Max(tileW, n / (pool.Threads * 3) / tileW * tileW));
        var gemm = new PanelGemmBody<TS, TV> { Xt = xt, Panels = panels, W = w, Y = y, Rows = rows, K = k, N = n, BlockRows = blockRows };
        pool.For((n + blockRows - 1) / blockRows, ref gemm);
    }

    private struct PackPanelsBody : IParallelBody
    {
        public float* X, Xt;
        public int Rows, K, Lanes;

        public readonly void Invoke(int p)
            => MatMulF32.PackRows(X + (long)p * Lanes * K, Math.Min(Lanes, Rows - p * Lanes), K, 1, 1f, K, Lanes, Xt + (long)p * K * Lanes);
    }

    private struct PanelGemmBody<TS, TV> : IParallelBody where TS : struct, ISimd<TV> where TV : unmanaged
    {
        public float* Xt;
        public Half* W;
        public float* Y;
        public int Panels, Rows, K, N, BlockRows;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Invoke(int index)
        {
            int n0 = index * BlockRows;
            int nb = Math.Min(BlockRows, N - n0);
            float* wf = ConvertBlock<TS, TV>(W, n0, nb, K, K);
            PanelBlock<TS, TV>(Xt, Panels, K, wf, nb, Y + n0, N, Rows);
        }
    }

    /// <summary>
    /// y[t · ldy + j] = Σ_i x(t, i) · wf[j · k + i] for one block of nb FP32 weight rows against every x panel. k slices are
    /// the outer loop, so one slice of the block stays in cache while all panels pass it; the partial sums of every panel
    /// pair wait in scratch between slices.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelBlock<TS, TV>(float* xt, int panels, int k, float* wf, int nb, float* y, int ldy, int rows)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int lanes = TS.Count, tileW = MatMulF32.TileW;
        // acc[p · nb + 2j + h]: panel p + h (p even), weight row j.
        TV* acc = (TV*)ThreadScratch.Get(ThreadScratch.MatMulAccumulators, (panels + 1L) / 2 * 2 * nb * lanes);
        TV* saved = stackalloc TV[2 * tileW];
        for (int k0 = 0; k0 < k; k0 += PanelKSlice)
        {
            int kc = Math.Min(PanelKSlice, k - k0);
            bool first = k0 == 0;
            for (int p = 0; p < panels; p += 2)
            {
                float* xa = xt + ((long)p * k + k0) * lanes;
                float* xb = p + 1 < panels ? xa + (long)k * lanes : null;
                TV* pacc = acc + (long)p * nb;
                for (int j0 = 0; j0 < nb; j0 += tileW)
                {
                    // The last group overlaps the one before rather than running short: its rows come out with the same bits.
                    int j = nb >= tileW ? Math.Min(j0, nb - tileW) : j0;
                    if (nb - j < tileW)
                    {
                        for (; j < nb; j++) MatMulF32.Tail<TS, TV>(xa, xb, wf + (long)j * k + k0, kc, pacc + 2 * j, first);
                        break;
                    }
                    // After the first slice the tile adds to its sums, so the rows it shares with the group before (which
                    // already added this slice) are put back afterwards instead of counting the slice twice.
                    int shared = first ? 0 : 2 * (j0 - j);
                    for (int s = 0; s < shared; s++) saved[s] = pacc[2 * j + s];
                    if (xb != null) MatMulF32.Tile2x6<TS, TV>(xa, xb, wf + (long)j * k + k0, k, kc, pacc + 2 * j, first);
                    else MatMulF32.Tile1x6<TS, TV>(xa, wf + (long)j * k + k0, k, kc, pacc + 2 * j, first);
                    for (int s = 0; s < shared; s++) pacc[2 * j + s] = saved[s];
                }
            }
        }
        float* sums = (float*)acc;
        for (int t = 0; t < rows; t++)
        {
            int p = t / lanes;
            float* src = sums + ((long)(p - p % 2) * nb + p % 2) * lanes + t % lanes;
            float* dst = y + (long)t * ldy;
            for (int j = 0; j < nb; j++, src += 2 * lanes) dst[j] = *src;
        }
    }

    private struct GemvBody<TS, TV> : IParallelBody where TS : struct, ISimd<TV> where TV : struct
    {
        public float* X;
        public Half* W;
        public float* Y;
        public int K, N, ChunkRows;

        public readonly void Invoke(int index)
        {
            int n0 = index * ChunkRows;
            int n1 = Math.Min(N, n0 + ChunkRows);
            GemvRows<TS, TV>(X, W, K, n0, n1, Y);
        }
    }

    /// <summary>
    /// Software prefetch distance in halves (8 KiB) for the GEMV weight stream (0: no look-ahead in the GEMV).
    /// Measured: one row at a time (a single sequential stream) plus this prefetch streamed ~2× faster than four
    /// interleaved rows without it.
    /// </summary>
    internal static int GemvPrefetchHalves = 4096;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemvRows<TS, TV>(float* x, Half* w, int k, int n0, int n1, float* y)
        where TS : struct, ISimd<TV> where TV : struct
    {
        // x is packed by VectorOps.PackPairs: within each block of 2·width, the even elements, then the odd ones — the
        // order LoadHalfPairsScaled hands out the weights in, which needs no widening shuffle (the kernel is compute-bound
        // in cache at about the rate DRAM delivers, so the ~3 vector ops it saves per 8 weights show up in the stream).
        int width = TS.Count;
        int step = 2 * width;
        int kv = k - k % step;
        // Unconditional: a conditional prefetch costs a branch per line, and the probe sets the distance without
        // recompiling. Prefetch never faults, so running past the end of the matrix is harmless.
        int prefetch = GemvPrefetchHalves;
        for (int n = n0; n < n1; n++)
        {
            Half* w0 = w + (long)n * k;
            TV a0 = TS.Zero, b0 = TS.Zero, a1 = TS.Zero, b1 = TS.Zero;
            int i = 0;
            for (; i + 2 * step <= kv; i += 2 * step)
            {
                if (Sse.IsSupported)
                {
                    Sse.Prefetch0(w0 + i + prefetch);
                    if (TS.Count >= 16) Sse.Prefetch0(w0 + i + prefetch + 32);  // 128 bytes per iteration: two lines.
                }
                TS.LoadHalfPairsScaled(w0 + i, out TV even, out TV odd);
                a0 = TS.Fma(even, TS.Load(x + i), a0);
                b0 = TS.Fma(odd, TS.Load(x + i + width), b0);
                TS.LoadHalfPairsScaled(w0 + i + step, out even, out odd);
                a1 = TS.Fma(even, TS.Load(x + i + step), a1);
                b1 = TS.Fma(odd, TS.Load(x + i + step + width), b1);
            }
            for (; i < kv; i += step)
            {
                TS.LoadHalfPairsScaled(w0 + i, out TV even, out TV odd);
                a0 = TS.Fma(even, TS.Load(x + i), a0);
                b0 = TS.Fma(odd, TS.Load(x + i + width), b0);
            }
            float s0 = TS.Sum(TS.Add(TS.Add(a0, b0), TS.Add(a1, b1)));
            for (; i < k; i++) s0 += HalfBits.Scaled(((ushort*)w0)[i]) * x[i];
            y[n] = s0 * GemvOutputScale;
        }
    }

    /// <summary>
    /// Weight rows per work item of a one-pass stream (GEMV, skinny kernel): a few contiguous chunks per thread for dynamic
    /// balance, each long enough to keep its stream sequential, a multiple of 4 rows.
    /// </summary>
    private static int StreamChunkRows(int n, WorkerPool pool)
    {
        int chunks = Math.Min((n + 3) / 4, pool.Threads * 4);
        return ((n + chunks - 1) / chunks + 3) & ~3;
    }

    private static VectorIsa IsaOf<TS, TV>() where TS : struct, ISimd<TV> where TV : struct
        => TS.Count switch { 1 => VectorIsa.Scalar, 4 => VectorIsa.V128, 8 => VectorIsa.V256, _ => VectorIsa.V512 };

    /// <summary>
    /// Up to this many rows (batched decode) the skinny kernel runs instead of the FP32-block GEMM: each FP16 weight row is
    /// read once, converted in registers and multiplied with every row, so the weight stream and the arithmetic overlap and
    /// no FP32 copy of the weights is written. Both paths sum each (row, weight row) pair in one vector accumulator in k
    /// order over the same FP32 values, so they give the same bits and the switch does not depend on anything a caller sees.
    /// </summary>
    internal static int SkinnyMaxRows = 8;

    /// <summary>Rows per skinny group: accumulators for 8 rows, the weight vectors and the rebias constant fit 16 registers.</summary>
    private const int SkinnyGroup = 8;

    private static void RunSkinny<TS, TV>(float* x, int rows, int k, int kp, Half* w, int n, float* y, WorkerPool pool)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        // Groups of 8 rows and at most one of 4; missing rows of the last group are zero rows whose results are dropped.
        int rem = rows % SkinnyGroup;
        int padded = rows - rem + (rem == 0 ? 0 : rem <= 4 ? 4 : SkinnyGroup);
        // Each group packed vector-major ([kp / Count][group][Count]), so the kernel walks one pointer with fixed offsets.
        float* xs = ThreadScratch.Get(ThreadScratch.MatMulInput, (long)padded * kp);
        int width = TS.Count;
        for (int g0 = 0; g0 < padded; g0 += SkinnyGroup)
        {
            int group = Math.Min(SkinnyGroup, padded - g0);
            float* dst = xs + (long)g0 * kp;
            for (int v = 0; v < kp; v += width)
                for (int r = 0; r < group; r++, dst += width)
                {
                    int t = g0 + r;
                    int valid = t < rows ? Math.Clamp(k - v, 0, width) : 0;
                    if (valid > 0) new ReadOnlySpan<float>(x + (long)t * k + v, valid).CopyTo(new Span<float>(dst, valid));
                    if (valid < width) new Span<float>(dst + valid, width - valid).Clear();
                }
        }
        int chunkRows = StreamChunkRows(n, pool);
        var body = new SkinnyBody<TS, TV> { X = xs, W = w, Y = y, Rows = rows, Padded = padded, K = k, Kp = kp, N = n, ChunkRows = chunkRows };
        pool.For((n + chunkRows - 1) / chunkRows, ref body);
    }

    private struct SkinnyBody<TS, TV> : IParallelBody where TS : struct, ISimd<TV> where TV : unmanaged
    {
        public float* X;
        public Half* W;
        public float* Y;
        public int Rows, Padded, K, Kp, N, ChunkRows;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Invoke(int index)
        {
            int n0 = index * ChunkRows;
            int n1 = Math.Min(N, n0 + ChunkRows);
            int prefetch = GemvPrefetchHalves;
            float* tail = stackalloc float[2 * TS.Count + 16];
            float* sums = stackalloc float[SkinnyGroup];
            int kFull = K - K % (2 * TS.Count);
            for (int j = n0; j < n1; j++)
            {
                Half* row = W + (long)j * K;
                // The k tail of this weight row as exact FP32, zero-padded to kp (what the GEMM's converted block holds).
                for (int i = kFull; i < Kp; i++) tail[i - kFull] = i < K ? HalfBits.ToSingle(((ushort*)row)[i]) : 0f;
                for (int g0 = 0; g0 < Padded; g0 += SkinnyGroup)
                {
                    float* xg = X + (long)g0 * Kp;
                    int group = Math.Min(SkinnyGroup, Padded - g0);
                    // Only the first group streams the row from memory; the others find it in L1.
                    if (group == SkinnyGroup) Skinny8<TS, TV>(row, kFull, Kp, tail, xg, g0 == 0 ? prefetch : 0, sums);
                    else Skinny4<TS, TV>(row, kFull, Kp, tail, xg, g0 == 0 ? prefetch : 0, sums);
                    int valid = Math.Min(group, Rows - g0);
                    for (int r = 0; r < valid; r++) Y[(long)(g0 + r) * N + j] = sums[r];
                }
            }
        }
    }

    /// <summary>
    /// sums[r] = Σ_i w[i] · x_r[i] for 8 packed rows: per 2·Count halves one load, an in-register conversion and 16 FMAs.
    /// Each row's accumulator takes the low then the high half of every step, i.e. k order, like a GEMM tile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Skinny8<TS, TV>(Half* w, int kFull, int kp, float* tail, float* x, int prefetch, float* sums)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count;
        TV rebias = TS.Broadcast(HalfBits.Rebias);
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero, a4 = TS.Zero, a5 = TS.Zero, a6 = TS.Zero, a7 = TS.Zero;
        int i = 0;
        for (; i < kFull; i += 2 * c, x += 16 * c)
        {
            // One prefetch per 64-byte line; prefetch never faults, so running past the end of the matrix is harmless.
            if (Sse.IsSupported && prefetch > 0 && (i & 31) == 0) Sse.Prefetch0(w + i + prefetch);
            TS.LoadHalvesScaled(w + i, out TV lo, out TV hi);
            lo = TS.Multiply(lo, rebias);
            hi = TS.Multiply(hi, rebias);
            a0 = TS.Fma(lo, TS.Load(x), a0); a1 = TS.Fma(lo, TS.Load(x + c), a1);
            a2 = TS.Fma(lo, TS.Load(x + 2 * c), a2); a3 = TS.Fma(lo, TS.Load(x + 3 * c), a3);
            a4 = TS.Fma(lo, TS.Load(x + 4 * c), a4); a5 = TS.Fma(lo, TS.Load(x + 5 * c), a5);
            a6 = TS.Fma(lo, TS.Load(x + 6 * c), a6); a7 = TS.Fma(lo, TS.Load(x + 7 * c), a7);
            a0 = TS.Fma(hi, TS.Load(x + 8 * c), a0); a1 = TS.Fma(hi, TS.Load(x + 9 * c), a1);
            a2 = TS.Fma(hi, TS.Load(x + 10 * c), a2); a3 = TS.Fma(hi, TS.Load(x + 11 * c), a3);
            a4 = TS.Fma(hi, TS.Load(x + 12 * c), a4); a5 = TS.Fma(hi, TS.Load(x + 13 * c), a5);
            a6 = TS.Fma(hi, TS.Load(x + 14 * c), a6); a7 = TS.Fma(hi, TS.Load(x + 15 * c), a7);
        }
        for (float* t = tail; i < kp; i += c, t += c, x += 8 * c)
        {
            TV v = TS.Load(t);
            a0 = TS.Fma(v, TS.Load(x), a0); a1 = TS.Fma(v, TS.Load(x + c), a1);
            a2 = TS.Fma(v, TS.Load(x + 2 * c), a2); a3 = TS.Fma(v, TS.Load(x + 3 * c), a3);
            a4 = TS.Fma(v, TS.Load(x + 4 * c), a4); a5 = TS.Fma(v, TS.Load(x + 5 * c), a5);
            a6 = TS.Fma(v, TS.Load(x + 6 * c), a6); a7 = TS.Fma(v, TS.Load(x + 7 * c), a7);
        }
        sums[0] = TS.Sum(a0); sums[1] = TS.Sum(a1); sums[2] = TS.Sum(a2); sums[3] = TS.Sum(a3);
        sums[4] = TS.Sum(a4); sums[5] = TS.Sum(a5); sums[6] = TS.Sum(a6); sums[7] = TS.Sum(a7);
    }

    /// <summary><see cref="Skinny8{TS, TV}"/> for a group of 4 packed rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Skinny4<TS, TV>(Half* w, int kFull, int kp, float* tail, float* x, int prefetch, float* sums)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        int c = TS.Count;
        TV rebias = TS.Broadcast(HalfBits.Rebias);
        TV a0 = TS.Zero, a1 = TS.Zero, a2 = TS.Zero, a3 = TS.Zero;
        int i = 0;
        for (; i < kFull; i += 2 * c, x += 8 * c)
        {
            if (Sse.IsSupported && prefetch > 0 && (i & 31) == 0) Sse.Prefetch0(w + i + prefetch);
            TS.LoadHalvesScaled(w + i, out TV lo, out TV hi);
            lo = TS.Multiply(lo, rebias);
            hi = TS.Multiply(hi, rebias);
            a0 = TS.Fma(lo, TS.Load(x), a0); a1 = TS.Fma(lo, TS.Load(x + c), a1);
            a2 = TS.Fma(lo, TS.Load(x + 2 * c), a2); a3 = TS.Fma(lo, TS.Load(x + 3 * c), a3);
            a0 = TS.Fma(hi, TS.Load(x + 4 * c), a0); a1 = TS.Fma(hi, TS.Load(x + 5 * c), a1);
            a2 = TS.Fma(hi, TS.Load(x + 6 * c), a2); a3 = TS.Fma(hi, TS.Load(x + 7 * c), a3);
        }
        for (float* t = tail; i < kp; i += c, t += c, x += 4 * c)
        {
            TV v = TS.Load(t);
            a0 = TS.Fma(v, TS.Load(x), a0); a1 = TS.Fma(v, TS.Load(x + c), a1);
            a2 = TS.Fma(v, TS.Load(x + 2 * c), a2); a3 = TS.Fma(v, TS.Load(x + 3 * c), a3);
        }
        sums[0] = TS.Sum(a0); sums[1] = TS.Sum(a1); sums[2] = TS.Sum(a2); sums[3] = TS.Sum(a3);
    }

    private struct GemmBody<TS, TV> : IParallelBody where TS : struct, ISimd<TV> where TV : unmanaged
    {
        public float* X;
        public Half* W;
        public float* Y;
        public int Rows, ValidRows, K, Kp, N, BlockRows;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Invoke(int index)
        {
            int n0 = index * BlockRows;
            int nb = Math.Min(BlockRows, N - n0);
            float* wf = ConvertBlock<TS, TV>(W, n0, nb, K, Kp);
            GemmBlock<TS, TV>(X, Rows, Kp, wf, nb, Y + n0, N, ValidRows);
        }
    }

    /// <summary>
    /// Software prefetch distance in halves (8 KiB) while a GEMM block's FP16 weights are converted; 0 leaves it to the
    /// hardware prefetcher. The weights of a step come from DRAM, so the conversion is a memory stream; 2–8 KiB ahead
    /// measured a few per cent faster than none, with a flat optimum.
    /// </summary>
    internal static int GemmPrefetchHalves = 4096;

    /// <summary>Weight rows n0 .. n0 + nb as FP32 in this thread's block scratch, rows <paramref name="stride"/> apart and zero-padded to it.</summary>
    private static float* ConvertBlock<TS, TV>(Half* w, int n0, int nb, int k, int stride) where TS : struct, ISimd<TV> where TV : struct
    {
        float* wf = ThreadScratch.Get(ThreadScratch.MatMulWeights, (long)nb * stride);
        int prefetch = GemmPrefetchHalves;
        for (int r = 0; r < nb; r++)
        {
            float* dst = wf + (long)r * stride;
            ConvertRow<TS, TV>(w + (long)(n0 + r) * k, dst, k, prefetch);
            for (int i = k; i < stride; i++) dst[i] = 0f;
        }
        return wf;
    }

    /// <summary>dst[0 .. k) = FP32 of src[0 .. k), prefetching the stream ahead; the same values as <see cref="HalfConvert.ToSingleCore"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ConvertRow<TS, TV>(Half* src, float* dst, int k, int prefetch) where TS : struct, ISimd<TV> where TV : struct
    {
        int step = 2 * TS.Count;
        TV rebias = TS.Broadcast(HalfBits.Rebias);
        int i = 0;
        for (; i + step <= k; i += step)
        {
            // One prefetch per 64-byte line; prefetch never faults, so running past the end of the matrix is harmless.
            if (Sse.IsSupported && prefetch > 0 && (i & 31) == 0) Sse.Prefetch0(src + i + prefetch);
            TS.LoadHalvesScaled(src + i, out TV low, out TV high);
            TS.Store(TS.Multiply(low, rebias), dst + i);
            TS.Store(TS.Multiply(high, rebias), dst + i + TS.Count);
        }
        for (; i < k; i++) dst[i] = HalfBits.ToSingle(((ushort*)src)[i]);
    }

    /// <summary>
    /// Depth of one k slice. Interleaved A/B (bench `slices` and `encoder-ops`, 2 threads, AVX2): no slicing beat 512-deep
    /// slices by 7–15 % on every shape measured (k = 768, 2048, 3072; 128 and 196 rows), because each extra slice stores and
    /// reloads every accumulator of the block; k up to 4096 therefore runs in one slice, longer rows in 4096-deep slices.
    /// </summary>
    internal static int KSlice = 4096;

    /// <summary>y[t, j] = dot(x[t, :], wf[j, :]) for a block of nb FP32 weight rows, written for t &lt; validRows; rows of x and wf have stride kp (padded).</summary>
    /// <remarks>
    /// x tiles are the outer loop and k slices the inner one (k ≤ <see cref="KSlice"/> is a single slice), so only one
    /// tile's partial sums are live. Every (x row, weight row) pair of the full weight tiles, tail x rows included, accumulates in one vector register
    /// in k order and is reduced once, so a row's result does not depend on how many rows the call has or where it sits.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GemmBlock<TS, TV>(float* x, int rows, int kp, float* wf, int nb, float* y, int ldy, int validRows)
        where TS : struct, ISimd<TV> where TV : unmanaged
    {
        bool wide = TS.Count >= 16;
        int tileW = wide ? 4 : 3;
        int tileX = wide ? 6 : 4;
        int fullW = nb - nb % tileW;
        // Vector partial sums of one x tile per (x row, weight row), carried across k slices and reduced once at the end:
        // a full tile holds acc[j · tileX + c · tileX + r]; the tail rows after the last full tile hold acc[r · nb + j].
        // Only one tile's sums are live, so they stay in L1 however many rows the call has.
        TV* acc = (TV*)ThreadScratch.Get(ThreadScratch.MatMulAccumulators, (long)tileX * nb * TS.Count);
        // Results are staged contiguously and copied out per x tile: y rows n floats apart (often a multiple of
        // 4 KiB) would otherwise collide in the same cache sets.
        float* stage = stackalloc float[tileX * nb];
        float* sums = stackalloc float[8];
        for (int t = 0; t < rows; t += tileX)
        {
            int count = Math.Min(tileX, rows - t);
            for (int k0 = 0; k0 < kp; k0 += KSlice)
            {
                int kc = Math.Min(KSlice, kp - k0);
                bool first = k0 == 0;
                float* xt = x + (long)t * kp + k0;
                if (count == tileX)
                {
                    for (int j = 0; j < fullW; j += tileW)
                    {
                        if (wide) Tile4x6<TS, TV>(xt, wf + (long)j * kp + k0, kp, kc, acc + j * tileX, first);
                        else Tile3x4<TS, TV>(xt, wf + (long)j * kp + k0, kp, kc, acc + j * tileX, first);
                    }
                }
                else
                {
                    // The same per-pair accumulation as the full tiles, so a row's bits do not depend on the row count.
                    for (int r = 0; r < count; r++)
                        for (int j = 0; j < fullW; j += tileW)
                        {
                            if (wide) Tile4x1<TS, TV>(xt + (long)r * kp, wf + (long)j * kp + k0, kp, kc, acc + r * nb + j, first);
                            else Tile3x1<TS, TV>(xt + (long)r * kp, wf + (long)j * kp + k0, kp, kc, acc + r * nb + j, first);
                        }
                }
            }
            int done = 0;
            if (typeof(TV) == typeof(Vector256<float>) && Avx.IsSupported && count == tileX)
            {
                // Eight pairs reduced at once by a horizontal-add tree: 9 instructions instead of ~12 per pair, and the same
                // additions in the same order as Vector256.Sum, so the bits do not change.
                for (; done + 8 <= fullW * tileX; done += 8)
                {
                    Avx.Store(sums, Sum8((Vector256<float>*)acc + done));
                    for (int q = 0; q < 8; q++) stage[(done + q) % tileX * nb + (done + q) / tileX] = sums[q];
                }
            }
            for (int p = done; p < fullW * count; p++)
            {
                int j = p / count, r = p % count;
                stage[r * nb + j] = TS.Sum(count == tileX ? acc[j * tileX + r] : acc[r * nb + j]);
            }
            for (int j = fullW; j < nb; j++)
                for (int r = 0; r < count; r++)
                    stage[r * nb + j] = Dot<TS, TV>(x + (long)(t + r) * kp, wf + (long)j * kp, kp);
            for (int r = 0; r < count && t + r < validRows; r++)
                new ReadOnlySpan<float>(stage + r * nb, nb).CopyTo(new Span<float>(y + (long)(t + r) * ldy, nb));
        }
    }

    /// <summary>
    /// The totals of eight vectors, lane i = Vector256.Sum(v[i]) bit for bit: per 128-bit half the pairs, then the pairs of
    /// pairs (horizontal adds), then the two halves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Sum8(Vector256<float>* v)
    {
        var q0 = Avx.HorizontalAdd(Avx.HorizontalAdd(v[0], v[1]), Avx.HorizontalAdd(v[2], v[3]));
        var q1 = Avx.HorizontalAdd(Avx.HorizontalAdd(v[4], v[5]), Avx.HorizontalAdd(v[6], v[7]));
        return Avx.Add(Avx.Permute2x128(q0, q1, 0x20), Avx.Permute2x128(q0, q1, 0x31));
    }

    /// <summary>3 weight rows × 1 input row, for the rows after the last full x tile: the same accumulation per pair as <see cref="Tile3x4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile3x1<TS, TV>(float* x, float* w, int kp, int kc, TV* acc, bool first) where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TV c0 = first ? TS.Zero : acc[0], c1 = first ? TS.Zero : acc[1], c2 = first ? TS.Zero : acc[2];
        float* w0 = w, w1 = w + kp, w2 = w1 + kp;
        for (int i = 0; i < kc; i += TS.Count)
        {
            TV u = TS.Load(x + i);
            c0 = TS.Fma(TS.Load(w0 + i), u, c0); c1 = TS.Fma(TS.Load(w1 + i), u, c1); c2 = TS.Fma(TS.Load(w2 + i), u, c2);
        }
        acc[0] = c0; acc[1] = c1; acc[2] = c2;
    }

    /// <summary>4 weight rows × 1 input row, for the rows after the last full x tile: the same accumulation per pair as <see cref="Tile4x6"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4x1<TS, TV>(float* x, float* w, int kp, int kc, TV* acc, bool first) where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TV c0 = first ? TS.Zero : acc[0], c1 = first ? TS.Zero : acc[1], c2 = first ? TS.Zero : acc[2], c3 = first ? TS.Zero : acc[3];
        float* w0 = w, w1 = w + kp, w2 = w1 + kp, w3 = w2 + kp;
        for (int i = 0; i < kc; i += TS.Count)
        {
            TV u = TS.Load(x + i);
            c0 = TS.Fma(TS.Load(w0 + i), u, c0); c1 = TS.Fma(TS.Load(w1 + i), u, c1);
            c2 = TS.Fma(TS.Load(w2 + i), u, c2); c3 = TS.Fma(TS.Load(w3 + i), u, c3);
        }
        acc[0] = c0; acc[1] = c1; acc[2] = c2; acc[3] = c3;
    }

    /// <summary>One pair in one accumulator in k order, as the tiles and the skinny kernel sum it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TS, TV>(float* a, float* b, int kp) where TS : struct, ISimd<TV> where TV : struct
    {
        TV s = TS.Zero;
        for (int i = 0; i < kp; i += TS.Count) s = TS.Fma(TS.Load(a + i), TS.Load(b + i), s);
        return TS.Sum(s);
    }

    /// <summary>3 weight rows × 4 input rows = 12 accumulators: fits 16 registers with the 3 weight vectors and a memory operand.</summary>
    /// <remarks>acc[c · 4 + r] holds the partial sum of weight row c and x row r; <paramref name="first"/> starts from zero.
    /// Not inlined: in the caller's frame the JIT spilled the row pointers and reloaded them every iteration (a separate
    /// frame measured 10–15 % faster at 12–16 rows, bench `gemm-rows`).</remarks>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile3x4<TS, TV>(float* x, float* w, int kp, int kc, TV* acc, bool first) where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TV c00 = TS.Zero, c01 = TS.Zero, c02 = TS.Zero;
        TV c10 = TS.Zero, c11 = TS.Zero, c12 = TS.Zero;
        TV c20 = TS.Zero, c21 = TS.Zero, c22 = TS.Zero;
        TV c30 = TS.Zero, c31 = TS.Zero, c32 = TS.Zero;
        if (!first)
        {
            c00 = acc[0]; c10 = acc[1]; c20 = acc[2]; c30 = acc[3];
            c01 = acc[4]; c11 = acc[5]; c21 = acc[6]; c31 = acc[7];
            c02 = acc[8]; c12 = acc[9]; c22 = acc[10]; c32 = acc[11];
        }
        float* x0 = x, x1 = x + kp, x2 = x1 + kp, x3 = x2 + kp;
        float* w0 = w, w1 = w + kp, w2 = w1 + kp;
        for (int i = 0; i < kc; i += TS.Count)
        {
            TV v0 = TS.Load(w0 + i), v1 = TS.Load(w1 + i), v2 = TS.Load(w2 + i);
            TV u = TS.Load(x0 + i);
            c00 = TS.Fma(v0, u, c00); c01 = TS.Fma(v1, u, c01); c02 = TS.Fma(v2, u, c02);
            u = TS.Load(x1 + i);
            c10 = TS.Fma(v0, u, c10); c11 = TS.Fma(v1, u, c11); c12 = TS.Fma(v2, u, c12);
            u = TS.Load(x2 + i);
            c20 = TS.Fma(v0, u, c20); c21 = TS.Fma(v1, u, c21); c22 = TS.Fma(v2, u, c22);
            u = TS.Load(x3 + i);
            c30 = TS.Fma(v0, u, c30); c31 = TS.Fma(v1, u, c31); c32 = TS.Fma(v2, u, c32);
        }
        acc[0] = c00; acc[1] = c10; acc[2] = c20; acc[3] = c30;
        acc[4] = c01; acc[5] = c11; acc[6] = c21; acc[7] = c31;
        acc[8] = c02; acc[9] = c12; acc[10] = c22; acc[11] = c32;
    }

    /// <summary>4 weight rows × 6 input rows = 24 accumulators for 32-register ISAs (AVX-512); not inlined, as <see cref="Tile3x4"/>.</summary>
    /// <remarks>acc[c · 6 + r] holds the partial sum of weight row c and x row r; <paramref name="first"/> starts from zero.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x6<TS, TV>(float* x, float* w, int kp, int kc, TV* acc, bool first) where TS : struct, ISimd<TV> where TV : unmanaged
    {
        TV c00 = TS.Zero, c01 = TS.Zero, c02 = TS.Zero, c03 = TS.Zero;
        TV c10 = TS.Zero, c11 = TS.Zero, c12 = TS.Zero, c13 = TS.Zero;
        TV c20 = TS.Zero, c21 = TS.Zero, c22 = TS.Zero, c23 = TS.Zero;
        TV c30 = TS.Zero, c31 = TS.Zero, c32 = TS.Zero, c33 = TS.Zero;
        TV c40 = TS.Zero, c41 = TS.Zero, c42 = TS.Zero, c43 = TS.Zero;
        TV c50 = TS.Zero, c51 = TS.Zero, c52 = TS.Zero, c53 = TS.Zero;
        if (!first)
        {
            c00 = acc[0]; c10 = acc[1]; c20 = acc[2]; c30 = acc[3]; c40 = acc[4]; c50 = acc[5];
            c01 = acc[6]; c11 = acc[7]; c21 = acc[8]; c31 = acc[9]; c41 = acc[10]; c51 = acc[11];
            c02 = acc[12]; c12 = acc[13]; c22 = acc[14]; c32 = acc[15]; c42 = acc[16]; c52 = acc[17];
            c03 = acc[18]; c13 = acc[19]; c23 = acc[20]; c33 = acc[21]; c43 = acc[22]; c53 = acc[23];
        }
        float* x0 = x, x1 = x + kp, x2 = x1 + kp, x3 = x2 + kp, x4 = x3 + kp, x5 = x4 + kp;
        float* w0 = w, w1 = w + kp, w2 = w1 + kp, w3 = w2 + kp;
        for (int i = 0; i < kc; i += TS.Count)
        {
            TV v0 = TS.Load(w0 + i), v1 = TS.Load(w1 + i), v2 = TS.Load(w2 + i), v3 = TS.Load(w3 + i);
            TV u = TS.Load(x0 + i);
            c00 = TS.Fma(v0, u, c00); c01 = TS.Fma(v1, u, c01); c02 = TS.Fma(v2, u, c02); c03 = TS.Fma(v3, u, c03);
            u = TS.Load(x1 + i);
            c10 = TS.Fma(v0, u, c10); c11 = TS.Fma(v1, u, c11); c12 = TS.Fma(v2, u, c12); c13 = TS.Fma(v3, u, c13);
            u = TS.Load(x2 + i);
            c20 = TS.Fma(v0, u, c20); c21 = TS.Fma(v1, u, c21); c22 = TS.Fma(v2, u, c22); c23 = TS.Fma(v3, u, c23);
            u = TS.Load(x3 + i);
            c30 = TS.Fma(v0, u, c30); c31 = TS.Fma(v1, u, c31); c32 = TS.Fma(v2, u, c32); c33 = TS.Fma(v3, u, c33);
            u = TS.Load(x4 + i);
            c40 = TS.Fma(v0, u, c40); c41 = TS.Fma(v1, u, c41); c42 = TS.Fma(v2, u, c42); c43 = TS.Fma(v3, u, c43);
            u = TS.Load(x5 + i);
            c50 = TS.Fma(v0, u, c50); c51 = TS.Fma(v1, u, c51); c52 = TS.Fma(v2, u, c52); c53 = TS.Fma(v3, u, c53);
        }
        acc[0] = c00; acc[1] = c10; acc[2] = c20; acc[3] = c30; acc[4] = c40; acc[5] = c50;
        acc[6] = c01; acc[7] = c11; acc[8] = c21; acc[9] = c31; acc[10] = c41; acc[11] = c51;
        acc[12] = c02; acc[13] = c12; acc[14] = c22; acc[15] = c32; acc[16] = c42; acc[17] = c52;
        acc[18] = c03; acc[19] = c13; acc[20] = c23; acc[21] = c33; acc[22] = c43; acc[23] = c53;
    }
}
