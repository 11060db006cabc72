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
        // Many short runs over at least 150 ms: the best one is least disturbed by other load on the machine. (40 runs took
        // ~35 ms, short enough for one stolen vCPU to halve every run and report half the peak.)
        long begin = Stopwatch.GetTimestamp();
        for (int run = 0; run < 40 || Stopwatch.GetElapsedTime(begin).TotalMilliseconds < 150; run++)
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
                VectorIsa.V512 => Run<Simd512, Vector512<float>>(Iterations),
                VectorIsa.V256 => Run<Simd256, Vector256<float>>(Iterations),
                VectorIsa.V128 => Run<Simd128, Vector128<float>>(Iterations),
                _ => 0f,
            };
        }
    }

    /// <summary>Ten independent FMA chains at the ISA's width; the result is returned so the loop cannot be removed.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Run<TS, TV>(long iterations) where TS : struct, ISimd<TV> where TV : struct
    {
        TV m = TS.Broadcast(0.999999f), add = TS.Broadcast(1e-7f);
        TV a0 = TS.Broadcast(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = TS.Fma(a0, m, add); a1 = TS.Fma(a1, m, add); a2 = TS.Fma(a2, m, add); a3 = TS.Fma(a3, m, add);
            a4 = TS.Fma(a4, m, add); a5 = TS.Fma(a5, m, add); a6 = TS.Fma(a6, m, add); a7 = TS.Fma(a7, m, add);
            a8 = TS.Fma(a8, m, add); a9 = TS.Fma(a9, m, add);
        }
        return TS.Sum(TS.Add(TS.Add(TS.Add(TS.Add(a0, a1), TS.Add(a2, a3)), TS.Add(TS.Add(a4, a5), TS.Add(a6, a7))), TS.Add(a8, a9)));
    }
}
