using Xunit;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Tests.Kernels;

public class WorkerPoolTests
{
    private sealed class CountingBody(int[] hits) : IParallelBody
    {
        public void Invoke(int index) => Interlocked.Increment(ref hits[index]);
    }

    private readonly ref struct SpanBody(Span<int> hits) : IParallelBody
    {
        private readonly Span<int> _hits = hits;
        public void Invoke(int index) => _hits[index] += index;
    }

    private sealed class ThrowingBody : IParallelBody
    {
        public void Invoke(int index)
        {
            if (index == 5) throw new InvalidDataException("boom");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void For_RunsEveryIndexExactlyOnce(int threads)
    {
        using var pool = new WorkerPool(threads);
        Assert.Equal(threads, pool.Threads);
        foreach (int count in new[] { 0, 1, 2, 3, 17, 1000 })
        {
            for (int round = 0; round < 50; round++)
            {
                var hits = new int[count];
                pool.For(count, new CountingBody(hits));
                Assert.All(hits, h => Assert.Equal(1, h));
            }
        }
    }

    [Fact]
    public void For_RefStructBodyWritesThroughSpan()
    {
        using var pool = new WorkerPool(3);
        Span<int> hits = stackalloc int[64];
        var body = new SpanBody(hits);
        for (int round = 0; round < 100; round++) pool.For(hits.Length, ref body);
        for (int i = 0; i < hits.Length; i++) Assert.Equal(100 * i, hits[i]);
    }

    [Fact]
    public void For_AfterIdleSleepStillWakesWorkers()
    {
        using var pool = new WorkerPool(2);
        var hits = new int[8];
        pool.For(hits.Length, new CountingBody(hits));
        Thread.Sleep(50);  // Longer than the spin window: workers are blocked now.
        pool.For(hits.Length, new CountingBody(hits));
        Assert.All(hits, h => Assert.Equal(2, h));
    }

    [Fact]
    public void For_PropagatesExceptionAndStaysUsable()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<InvalidDataException>(() => pool.For(20, new ThrowingBody()));
        var hits = new int[10];
        pool.For(hits.Length, new CountingBody(hits));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void For_NestedCallThrows()
    {
        using var pool = new WorkerPool(2);
        var nested = new NestedBody(pool);
        Assert.Throws<InvalidOperationException>(() => pool.For(4, nested));
    }

    private sealed class NestedBody(WorkerPool pool) : IParallelBody
    {
        public void Invoke(int index) => pool.For(2, new CountingBody(new int[2]));
    }

    [Fact]
    public void For_BackToBackCallsOfGrowingCountNeverRunAnIndexTwiceOrStall()
    {
        // A worker that wakes late for a small call must not claim an index of the next, larger call before it opens:
        // that ran an index twice and over-counted the call's completions, so the caller waited forever.
        using var pool = new WorkerPool(3);
        var hits = new int[64];
        var body = new CountingBody(hits);
        int calls = 0, wrong = 0;
        var caller = new Thread(() =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < 1500)
            {
                int count = calls++ % 2 == 0 ? 2 : 64;
                Array.Clear(hits);
                pool.For(count, body);
                for (int i = 0; i < hits.Length; i++)
                    if (hits[i] != (i < count ? 1 : 0)) wrong++;
            }
        }) { IsBackground = true };
        caller.Start();
        Assert.True(caller.Join(TimeSpan.FromSeconds(30)), $"WorkerPool.For stalled after {calls} calls");
        Assert.True(calls > 1000, $"only {calls} calls ran");
        Assert.Equal(0, wrong);
    }

    [Fact]
    public void Constructor_RejectsZeroThreads() => Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(0));
}
