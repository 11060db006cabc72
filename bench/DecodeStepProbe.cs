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
internal static unsafe class DecodeStepProbe
{
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
            var perChunks = new List<string>();
            int saved = MatMul.GemvChunksPerThread;
            foreach (int chunks in new[] { 2, 4, 8, 16 })
            {
                MatMul.GemvChunksPerThread = chunks;
                long s0 = Stopwatch.GetTimestamp();
                for (int rep = 0; rep < 8; rep++)
                    foreach (var t in matrices)
                    {
                        int n = (int)t.Shape[0], k = (int)t.Shape[1];
                        MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)file.GetPointer(t.Name), n, y.AsSpan(0, n), pool);
                    }
                perChunks.Add($"{chunks}:{Stopwatch.GetElapsedTime(s0).TotalMilliseconds / 8:F1}");
            }
            MatMul.GemvChunksPerThread = saved;
            double bw = MemoryBandwidth.MeasureReadBytesPerSecond(pool);
            Console.WriteLine($"decode step {stepMs,6:F2} ms ({bytes / stepMs / 1e6,5:F1} GB/s)   GEMV sweep {sweepMs,6:F2} ms ({bytes / sweepMs / 1e6,5:F1} GB/s)   probe {bw / 1e9:F1} GB/s   chunks/thread→ms {string.Join(" ", perChunks)}");
        }
    }
}
