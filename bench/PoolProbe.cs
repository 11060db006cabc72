using System.Diagnostics;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>Fork/join overhead of <see cref="WorkerPool"/>: an empty body, and a fixed spin body split across threads.</summary>
internal static class PoolProbe
{
    private struct Empty : IParallelBody { public readonly void Invoke(int index) { } }

    private struct Spin : IParallelBody
    {
        public int Iterations;
        public readonly void Invoke(int index) => Thread.SpinWait(Iterations);
    }

    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        var empty = new Empty();
        for (int round = 0; round < 3; round++)
        {
            const int calls = 20000;
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < calls; i++) pool.For(threads * 4, ref empty);
            Console.WriteLine($"empty For: {Stopwatch.GetElapsedTime(start).TotalMicroseconds / calls:F2} us per call");
        }
        var spin = new Spin { Iterations = 2000 };
        long s1 = Stopwatch.GetTimestamp();
        for (int i = 0; i < 1000; i++) spin.Invoke(0);
        double serial = Stopwatch.GetElapsedTime(s1).TotalMicroseconds / 1000;
        long s2 = Stopwatch.GetTimestamp();
        for (int i = 0; i < 1000; i++) pool.For(threads * 4, ref spin);
        double parallel = Stopwatch.GetElapsedTime(s2).TotalMicroseconds / 1000 / (threads * 4);
        Console.WriteLine($"spin body: serial {serial:F2} us, parallel {parallel:F2} us per item-equivalent");
    }
}
