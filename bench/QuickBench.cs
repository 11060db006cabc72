using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>
/// Roofline check without BenchmarkDotNet: measured bandwidth and FMA peak, then GEMV and GEMM on the 125M-model shapes
/// as fractions of those bounds (ratios within one run are meaningful even on a noisy machine).
/// </summary>
internal static unsafe class QuickBench
{
    private const int Dim = 768, KvDim = 256, Ffn = 2048, Vocab = 32000, Layers = 12, PrefillRows = 128;

    public static void Run(ReadOnlySpan<string> args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0]) : Environment.ProcessorCount;
        using var pool = new WorkerPool(threads);
        Console.WriteLine($"threads {threads}, vector path {Isa.Current}");

        double bandwidth = MemoryBandwidth.MeasureReadBytesPerSecond(pool);
        double peak = FmaPeak.MeasureFlopsPerSecond(pool);
        Console.WriteLine($"read bandwidth      {bandwidth / 1e9,8:F1} GB/s");
        Console.WriteLine($"FP32 FMA peak       {peak / 1e9,8:F1} GFLOP/s");

        // One token's weights: per layer QKV (768 → 768+256+256), O, gate+up (2 × 2048), down; plus the vocab head.
        (int n, int k, int count)[] shapes =
        [
            (Dim + 2 * KvDim, Dim, Layers), (Dim, Dim, Layers), (2 * Ffn, Dim, Layers), (Dim, Ffn, Layers), (Vocab, Dim, 1),
        ];
        long totalBytes = 0;
        foreach (var s in shapes) totalBytes += 2L * s.n * s.k * s.count;
        Console.WriteLine($"weights per token   {totalBytes / 1e6,8:F1} MB");

        // Distinct buffers per layer so every token streams from DRAM, as in the model.
        var weights = new List<(IntPtr w, int n, int k)>();
        var rng = new Random(1);
        foreach (var s in shapes)
            for (int c = 0; c < s.count; c++)
            {
                Half* w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * s.n * s.k), 64);
                for (long i = 0; i < (long)s.n * s.k; i++) w[i] = (Half)(rng.NextSingle() - 0.5f);
                weights.Add(((IntPtr)w, s.n, s.k));
            }
        var x = new float[Ffn * PrefillRows];
        for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() - 0.5f;
        var y = new float[Vocab * PrefillRows];

        // Per-matrix best time over repeated token passes: each pass streams all weights from DRAM, and taking the
        // best per matrix filters out passes disturbed by other load on a shared machine.
        var gemvBest = BestTimes(weights, 30, (w, n, k) => MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)w, n, y.AsSpan(0, n), pool));
        double best = gemvBest.Sum();
        double gemv = totalBytes / best;
        Console.WriteLine($"GEMV token          {best * 1e3,8:F2} ms  {gemv / 1e9,6:F1} GB/s  {gemv / bandwidth,6:P0} of measured bandwidth");

        foreach (var (n, k) in new[] { (768, 768), (4096, 768), (768, 2048), (32000, 768) })
        {
            var w = weights.First(e => e.n == n && e.k == k).w;
            double b = double.MaxValue;
            for (int rep = 0; rep < 200; rep++)
            {
                long start = Stopwatch.GetTimestamp();
                MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)w, n, y.AsSpan(0, n), pool);
                b = Math.Min(b, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            Console.WriteLine($"  GEMV {n,5}x{k,-5}   {b * 1e6,8:F1} us  {2.0 * n * k / b / 1e9,6:F1} GB/s");
        }

        var layer = weights.GetRange(0, 4);
        var gemmBest = BestTimes(layer, 5, (w, n, k) =>
            MatMul.Multiply(x.AsSpan(0, PrefillRows * k), PrefillRows, k, (Half*)w, n, y.AsSpan(0, PrefillRows * n), pool));
        double flops = 0;
        foreach (var (_, n, k) in layer) flops += 2.0 * PrefillRows * n * k;
        double seconds = gemmBest.Sum();
        Console.WriteLine($"GEMM {PrefillRows} rows/layer {seconds * 1e3,8:F2} ms  {flops / seconds / 1e9,6:F1} GFLOP/s  {flops / seconds / peak,6:P0} of FMA peak");
        foreach (var (n, k) in new[] { (1280, 768), (768, 768), (4096, 768), (768, 2048) })
        {
            var w = weights.First(e => e.n == n && e.k == k).w;
            double b = double.MaxValue;
            for (int rep = 0; rep < 10; rep++)
            {
                long start = Stopwatch.GetTimestamp();
                MatMul.Multiply(x.AsSpan(0, PrefillRows * k), PrefillRows, k, (Half*)w, n, y.AsSpan(0, PrefillRows * n), pool);
                b = Math.Min(b, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            Console.WriteLine($"  GEMM {PrefillRows}x{k}x{n,-5} {b * 1e3,8:F2} ms  {2.0 * PrefillRows * n * k / b / 1e9,6:F1} GFLOP/s");
        }

        foreach (var (w, _, _) in weights) NativeMemory.AlignedFree((void*)w);
        AttentionTimes(pool);
    }

    /// <summary>Decode at 512 context and a 128-token prefill, 12 heads, 4 KV heads, d 64; best of many calls.</summary>
    private static void AttentionTimes(WorkerPool pool)
    {
        const int heads = 12, kvHeads = 4, d = 64, capacity = 1024;
        var rng = new Random(2);
        var keys = new float[kvHeads * capacity * d];
        var values = new float[keys.Length];
        for (int i = 0; i < keys.Length; i++) { keys[i] = rng.NextSingle() - 0.5f; values[i] = rng.NextSingle() - 0.5f; }
        foreach (var (tokens, startPos) in new[] { (1, 511), (128, 0) })
        {
            var q = new float[tokens * heads * d];
            for (int i = 0; i < q.Length; i++) q[i] = rng.NextSingle() - 0.5f;
            var o = new float[q.Length];
            double b = double.MaxValue;
            for (int rep = 0; rep < 200; rep++)
            {
                long start = Stopwatch.GetTimestamp();
                Attention.Causal(q, tokens, startPos, keys, values, capacity, heads, kvHeads, d, o, pool);
                b = Math.Min(b, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            Console.WriteLine($"attention {tokens,3} tok @ {startPos + tokens,3} ctx {b * 1e6,8:F1} us");
        }
        var xn = new float[768];
        var wn = new float[768];
        var yn = new float[768];
        xn.AsSpan().Fill(0.5f);
        wn.AsSpan().Fill(1f);
        double bn = double.MaxValue;
        for (int rep = 0; rep < 2000; rep++)
        {
            long start = Stopwatch.GetTimestamp();
            RmsNorm.Forward(xn, wn, 1e-5f, yn);
            bn = Math.Min(bn, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        Console.WriteLine($"rmsnorm 768         {bn * 1e9,8:F0} ns");
    }

    private static double[] BestTimes(List<(IntPtr w, int n, int k)> matrices, int passes, Action<IntPtr, int, int> multiply)
    {
        var best = new double[matrices.Count];
        Array.Fill(best, double.MaxValue);
        for (int pass = 0; pass < passes; pass++)
            for (int i = 0; i < matrices.Count; i++)
            {
                var (w, n, k) = matrices[i];
                long start = Stopwatch.GetTimestamp();
                multiply(w, n, k);
                best[i] = Math.Min(best[i], Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        return best;
    }
}
