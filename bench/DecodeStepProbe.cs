using System.Diagnostics;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Bench;

/// <summary>
/// Where a decode step's time goes beyond streaming its weights: alternates real decode steps of a converted model with a
/// bare sweep of GEMVs over the same FP16 matrices — mapped, and read into huge pages (<see cref="WeightResidency.HugePages"/>),
/// the latter also over software-prefetch distances — in one process, so load swings hit every column alike.
/// </summary>
internal static unsafe class DecodeStepProbe
{
    public static void Run(string modelDir, int threads)
    {
        using var model = AutoGlmModel.Load(modelDir, new ModelOptions { Threads = threads });
        using var mapped = ModelFile.Open(modelDir);
        using var huge = ModelFile.Open(modelDir, residency: WeightResidency.HugePages);
        using var pool = new WorkerPool(threads);
        var matrices = mapped.Manifest.Tensors.Where(t => t.DType == TensorDTypes.F16 && t.Shape.Length == 2 && t.Name != TensorNames.TokenEmbedding).ToArray();
        long bytes = matrices.Sum(t => t.Length);
        var x = new float[matrices.Max(t => t.Shape[1])];
        var y = new float[matrices.Max(t => t.Shape[0])];
        for (int i = 0; i < x.Length; i++) x[i] = (i % 7 - 3) * 0.1f;
        var prompt = Enumerable.Range(0, 64).Select(i => 1 + i * 37 % (model.VocabSize - 1)).ToArray();
        var options = new GenerationOptions { MaxNewTokens = 33, StopAtEndOfSequence = false };

        // As many sweeps as decode steps (32), averaged the same way.
        double SweepMs(ModelFile file)
        {
            const int sweeps = 32;
            long start = Stopwatch.GetTimestamp();
            for (int rep = 0; rep < sweeps; rep++)
                foreach (var t in matrices)
                {
                    int n = (int)t.Shape[0], k = (int)t.Shape[1];
                    MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)file.GetPointer(t.Name), n, y.AsSpan(0, n), pool);
                }
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / sweeps;
        }
        double GBs(double ms) => bytes / ms / 1e6;

        Console.WriteLine($"{matrices.Length} matrices, {bytes / 1e6:F1} MB per token, {threads} threads, huge-page copy: {huge.Residency}");
        for (int round = 0; round < 5; round++)
        {
            double stepMs = 1000 / model.Generate(prompt, options).DecodeTokensPerSecond;
            double mappedMs = SweepMs(mapped), hugeMs = SweepMs(huge);
            var distances = new List<string>();
            int savedDistance = MatMul.GemvPrefetchHalves;
            foreach (int distance in new[] { 0, 1024, 2048, 4096, 8192 })
            {
                MatMul.GemvPrefetchHalves = distance;
                distances.Add($"{distance}:{GBs(SweepMs(huge)):F1}");
            }
            MatMul.GemvPrefetchHalves = savedDistance;
            double bw = MemoryBandwidth.MeasureReadBytesPerSecond(pool);
            Console.WriteLine($"decode step {stepMs,6:F2} ms ({GBs(stepMs),5:F1} GB/s)   GEMV sweep mapped {mappedMs,6:F2} ms ({GBs(mappedMs),5:F1} GB/s)   " +
                $"huge pages {hugeMs,6:F2} ms ({GBs(hugeMs),5:F1} GB/s)   read probe {bw / 1e9:F1} GB/s   prefetch halves→GB/s {string.Join(" ", distances)}");
        }
    }
}
