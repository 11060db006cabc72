using System.Diagnostics;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Bench;

/// <summary>
/// Where a decode step's time goes beyond streaming its weights: alternates real decode steps of a converted model with a
/// bare sweep of GEMVs over the same mapped FP16 matrices, in one process, so load swings hit both alike.
/// </summary>
internal static unsafe partial class DecodeStepProbe
{
    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);

    /// <summary>Copies of the matrices in one anonymous region, with or without transparent huge pages.</summary>
    private static (nint Base, Dictionary<string, nint> At) CopyMatrices(ModelFile file, TensorInfo[] matrices, bool hugePages)
    {
        long total = matrices.Sum(t => (t.Length + 4095) / 4096 * 4096);
        nint region = (nint)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)total, 2 << 20);
        if (hugePages && madvise(region, (nuint)total, 14) != 0) Console.WriteLine("madvise(MADV_HUGEPAGE) failed");
        var at = new Dictionary<string, nint>();
        long offset = 0;
        foreach (var t in matrices)
        {
            Buffer.MemoryCopy((void*)file.GetPointer(t.Name), (void*)(region + (nint)offset), t.Length, t.Length);
            at[t.Name] = region + (nint)offset;
            offset += (t.Length + 4095) / 4096 * 4096;
        }
        return (region, at);
    }

    public static void Run(string modelDir, int threads)
    {
        using var model = AutoGlmModel.Load(modelDir, new ModelOptions { Threads = threads });
        using var file = ModelFile.Open(modelDir);
        using var pool = new WorkerPool(threads);
        var matrices = file.Manifest.Tensors.Where(t => t.DType == TensorDTypes.F16 && t.Shape.Length == 2 && t.Name != TensorNames.TokenEmbedding).ToArray();
        long bytes = matrices.Sum(t => t.Length);
        int maxK = (int)matrices.Max(t => t.Shape[1]), maxN = (int)matrices.Max(t => t.Shape[0]);
        var x = new float[maxK];
        var y = new float[maxN];
        for (int i = 0; i < x.Length; i++) x[i] = (i % 7 - 3) * 0.1f;
        var prompt = Enumerable.Range(0, 64).Select(i => 1 + i * 37 % (model.VocabSize - 1)).ToArray();
        var options = new GenerationOptions { MaxNewTokens = 33, StopAtEndOfSequence = false };
        var plain = CopyMatrices(file, matrices, hugePages: false);
        var huge = CopyMatrices(file, matrices, hugePages: true);
        Console.WriteLine(File.ReadAllLines("/proc/meminfo").First(l => l.StartsWith("AnonHugePages", StringComparison.Ordinal)));
        double Sweep(Func<TensorInfo, nint> at)
        {
            const int reps = 16;
            long s0 = Stopwatch.GetTimestamp();
            for (int rep = 0; rep < reps; rep++)
                foreach (var t in matrices)
                {
                    int n = (int)t.Shape[0], k = (int)t.Shape[1];
                    MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)at(t), n, y.AsSpan(0, n), pool);
                }
            return Stopwatch.GetElapsedTime(s0).TotalMilliseconds / reps;
        }
        Console.WriteLine($"{matrices.Length} matrices, {bytes / 1e6:F1} MB per token, {threads} threads");
        for (int round = 0; round < 5; round++)
        {
            var r = model.Generate(prompt, options);
            double stepMs = 1000 / r.DecodeTokensPerSecond;
            // As many sweeps as decode steps, averaged the same way.
            const int sweeps = 32;
            long start = Stopwatch.GetTimestamp();
            for (int rep = 0; rep < sweeps; rep++)
                foreach (var t in matrices)
                {
                    int n = (int)t.Shape[0], k = (int)t.Shape[1];
                    MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)file.GetPointer(t.Name), n, y.AsSpan(0, n), pool);
                }
            double sweepMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds / sweeps;
            double plainMs = Sweep(t => plain.At[t.Name]), hugeMs = Sweep(t => huge.At[t.Name]);
            var distances = new List<string>();
            int savedDistance = MatMul.GemvPrefetchHalves;
            foreach (int distance in new[] { 0, 1024, 2048, 4096, 8192 })
            {
                MatMul.GemvPrefetchHalves = distance;
                distances.Add($"{distance}:{bytes / Sweep(t => huge.At[t.Name]) / 1e6:F1}");
            }
            MatMul.GemvPrefetchHalves = savedDistance;
            double bw = MemoryBandwidth.MeasureReadBytesPerSecond(pool);
            Console.WriteLine($"decode step {stepMs,6:F2} ms ({bytes / stepMs / 1e6,5:F1} GB/s)   GEMV sweep {sweepMs,6:F2} ms ({bytes / sweepMs / 1e6,5:F1} GB/s)   probe {bw / 1e9:F1} GB/s   heap copy {plainMs:F2} ms   huge-page copy {hugeMs:F2} ms ({bytes / hugeMs / 1e6:F1} GB/s)   prefetch→GB/s {string.Join(" ", distances)}");
        }
    }
}
