using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Measured FP32 fused-multiply-add peak: the roofline bound for compute-bound prefill.</summary>
public static unsafe class FmaPeak
{
    /// <summary>FLOP/s (an FMA counts 2) with every pool thread running independent accumulator chains, best of several runs.</summary>
    public static double MeasureFlopsPerSecond(WorkerPool pool)
    {
        ArgumentNullException.ThrowIfNull(pool);
        float* sink = stackalloc float[pool.Threads];
        var body = new FmaBody { Iterations = 500_000, Sink = sink };
        int width = Isa.Best switch { VectorIsa.V512 => 16, VectorIsa.V256 => 8, VectorIsa.V128 => 4, _ => 1 };
        double best = 0;
        // Many short runs: the best one is least disturbed by other load on the machine.
        for (int run = 0; run < 40; run++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.For(pool.Threads, ref body);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            double flops = (double)pool.Threads * body.Iterations * FmaBody.Chains * width * 2;
            best = Math.Max(best, flops / seconds);
        }
        return best;
    }

    private struct FmaBody : IParallelBody
    {
        /// <summary>Enough chains to cover FMA latency × throughput (4 cycles × 2 ports) with room to spare.</summary>
        public const int Chains = 10;
        public long Iterations;
        public float* Sink;

        public readonly void Invoke(int index)
        {
            Sink[index] = Isa.Best switch
            {
                VectorIsa.V512 => Vector512.Sum(Run512(Iterations)),
                VectorIsa.V256 => Vector256.Sum(Run256(Iterations)),
                VectorIsa.V128 => Vector128.Sum(Run128(Iterations)),
                _ => 0f,
            };
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector512<float> Run512(long iterations)
    {
        var m = Vector512.Create(0.999999f); var add = Vector512.Create(1e-7f);
        var a0 = Vector512.Create(1f); var a1 = a0; var a2 = a0; var a3 = a0; var a4 = a0;
        var a5 = a0; var a6 = a0; var a7 = a0; var a8 = a0; var a9 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, add); a1 = Vector512.FusedMultiplyAdd(a1, m, add);
            a2 = Vector512.FusedMultiplyAdd(a2, m, add); a3 = Vector512.FusedMultiplyAdd(a3, m, add);
            a4 = Vector512.FusedMultiplyAdd(a4, m, add); a5 = Vector512.FusedMultiplyAdd(a5, m, add);
            a6 = Vector512.FusedMultiplyAdd(a6, m, add); a7 = Vector512.FusedMultiplyAdd(a7, m, add);
            a8 = Vector512.FusedMultiplyAdd(a8, m, add); a9 = Vector512.FusedMultiplyAdd(a9, m, add);
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Run256(long iterations)
    {
        var m = Vector256.Create(0.999999f); var add = Vector256.Create(1e-7f);
        var a0 = Vector256.Create(1f); var a1 = a0; var a2 = a0; var a3 = a0; var a4 = a0;
        var a5 = a0; var a6 = a0; var a7 = a0; var a8 = a0; var a9 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, add); a1 = Vector256.FusedMultiplyAdd(a1, m, add);
            a2 = Vector256.FusedMultiplyAdd(a2, m, add); a3 = Vector256.FusedMultiplyAdd(a3, m, add);
            a4 = Vector256.FusedMultiplyAdd(a4, m, add); a5 = Vector256.FusedMultiplyAdd(a5, m, add);
            a6 = Vector256.FusedMultiplyAdd(a6, m, add); a7 = Vector256.FusedMultiplyAdd(a7, m, add);
            a8 = Vector256.FusedMultiplyAdd(a8, m, add); a9 = Vector256.FusedMultiplyAdd(a9, m, add);
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector128<float> Run128(long iterations)
    {
        var m = Vector128.Create(0.999999f); var add = Vector128.Create(1e-7f);
        var a0 = Vector128.Create(1f); var a1 = a0; var a2 = a0; var a3 = a0; var a4 = a0;
        var a5 = a0; var a6 = a0; var a7 = a0; var a8 = a0; var a9 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector128.FusedMultiplyAdd(a0, m, add); a1 = Vector128.FusedMultiplyAdd(a1, m, add);
            a2 = Vector128.FusedMultiplyAdd(a2, m, add); a3 = Vector128.FusedMultiplyAdd(a3, m, add);
            a4 = Vector128.FusedMultiplyAdd(a4, m, add); a5 = Vector128.FusedMultiplyAdd(a5, m, add);
            a6 = Vector128.FusedMultiplyAdd(a6, m, add); a7 = Vector128.FusedMultiplyAdd(a7, m, add);
            a8 = Vector128.FusedMultiplyAdd(a8, m, add); a9 = Vector128.FusedMultiplyAdd(a9, m, add);
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
    }
}
