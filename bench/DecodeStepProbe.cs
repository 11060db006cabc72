using System.Diagnostics;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Bench;

/// <summary>
/// Where a decode step's time goes beyond streaming its weights: alternates real decode steps of a converted model with a
/// bare sweep of single-row products over the same FP16 matrices — packed (<see cref="PackedMatMul"/>, what the decoder
/// runs) and row-major in the mapped file (<see cref="MatMul"/>) — and the read probe, in one process, so load swings hit
/// every column alike.
/// </summary>
internal static unsafe class DecodeStepProbe
{
    public static void Run(string modelDir, int threads)
    {
        using var model = AutoGlmModel.Load(modelDir, new ModelOptions { Threads = threads });
        using var mapped = ModelFile.Open(modelDir);
        using var pool = new WorkerPool(threads);
        var matrices = mapped.Manifest.Tensors.Where(t => t.DType == TensorDTypes.F16 && t.Shape.Length == 2 && t.Name != TensorNames.TokenEmbedding).ToArray();
        var packed = matrices.Select(t => PackedMatrix.Pack((Half*)mapped.GetPointer(t.Name), (int)t.Shape[0], (int)t.Shape[1], pool)).ToArray();
        long bytes = matrices.Sum(t => t.Length);
        var x = new float[matrices.Max(t => t.Shape[1])];
        var y = new float[matrices.Max(t => t.Shape[0])];
        for (int i = 0; i < x.Length; i++) x[i] = (i % 7 - 3) * 0.1f;
        var prompt = Enumerable.Range(0, 64).Select(i => 1 + i * 37 % (model.VocabSize - 1)).ToArray();
        var options = new GenerationOptions { MaxNewTokens = 33, StopAtEndOfSequence = false };

        // As many sweeps as decode steps (32), averaged the same way.
        double SweepMs(bool usePacked)
        {
            const int sweeps = 32;
            long start = Stopwatch.GetTimestamp();
            for (int rep = 0; rep < sweeps; rep++)
                for (int m = 0; m < matrices.Length; m++)
                {
                    int n = (int)matrices[m].Shape[0], k = (int)matrices[m].Shape[1];
                    if (usePacked) PackedMatMul.Multiply(x.AsSpan(0, k), 1, packed[m], y.AsSpan(0, n), pool);
                    else MatMul.Multiply(x.AsSpan(0, k), 1, k, (Half*)mapped.GetPointer(matrices[m].Name), n, y.AsSpan(0, n), pool);
                }
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds / sweeps;
        }
        double GBs(double ms) => bytes / ms / 1e6;

        Console.WriteLine($"{matrices.Length} matrices, {bytes / 1e6:F1} MB per token, {threads} threads");
        for (int round = 0; round < 5; round++)
        {
            double stepMs = 1000 / model.Generate(prompt, options).DecodeTokensPerSecond;
            double packedMs = SweepMs(true), rowMajorMs = SweepMs(false);
            double bw = MemoryBandwidth.MeasureReadBytesPerSecond(pool);
            Console.WriteLine($"decode step {stepMs,6:F2} ms ({GBs(stepMs),5:F1} GB/s)   packed GEMV sweep {packedMs,6:F2} ms ({GBs(packedMs),5:F1} GB/s)   " +
                $"row-major GEMV sweep {rowMajorMs,6:F2} ms ({GBs(rowMajorMs),5:F1} GB/s)   read probe {bw / 1e9:F1} GB/s");
        }
        foreach (var p in packed) p.Dispose();
    }
}
