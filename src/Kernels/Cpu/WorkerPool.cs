using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>One unit of parallel work: called once per index by <see cref="WorkerPool.For(int, IParallelBody)"/>.</summary>
public interface IParallelBody
{
    void Invoke(int index);
}

/// <summary>
/// Persistent threads with a low-overhead fork/join for per-token work.
/// <para>Not reentrant and not thread-safe: one <c>For</c> at a time per pool (a concurrent or nested call throws
/// <see cref="InvalidOperationException"/>); callers serialize or use separate pools.</para>
/// <para>Indices are handed out dynamically (one compare-exchange each), so bodies should be coarse (≥ a few µs).
/// The caller works too and waits only for items already claimed, so a descheduled worker never stalls a call.
/// If a body throws, the remaining items still run and the first exception is rethrown to the caller.
/// Idle workers spin for about <see cref="SpinMicroseconds"/> before blocking, so back-to-back calls during decode
/// cost a cache-line handoff rather than a kernel wake-up.</para>
/// <para>Two entry points: <see cref="For(int, IParallelBody)"/> takes any implementation (pass a cached class
/// instance to stay allocation-free), and <see cref="For{TBody}(int, ref TBody)"/> takes a struct — including a
/// <c>ref struct</c> holding spans — by reference without boxing; it is the one the kernels use.</para>
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>How long an idle worker polls before it blocks.</summary>
    public const int SpinMicroseconds = 200;

    private readonly Thread[] _workers;
    private readonly object _gate = new();
    private readonly long _spinTicks = Math.Max(1, Stopwatch.Frequency * SpinMicroseconds / 1_000_000);

    // Published work; written by the caller before _generation is bumped.
    private delegate*<void*, int, void> _invoke;
    private void* _state;
    private int _count;

    // High 32 bits: generation of the current call; low 32 bits: next unclaimed index, or Closed while the call's fields are written.
    private long _ticket;
    private const int Closed = int.MaxValue;
    private int _generation;
    private int _completed;
    private int _sleepers;
    private int _busy;
    private volatile bool _disposed;
    private ExceptionDispatchInfo? _failure;

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1.");
        Threads = threads;
        _workers = new Thread[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"OpenAutoGlm worker {i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>Total threads including the caller.</summary>
    public int Threads { get; }

    /// <summary>Calls <c>body.Invoke(i)</c> for i in [0, count) across the pool; blocks until all are done; the first exception propagates.</summary>
    public void For(int count, IParallelBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var holder = new InterfaceBody(body);
        For(count, ref holder);
    }

    /// <summary>Struct variant without boxing or closures; <paramref name="body"/> may be a ref struct. Mutations the
    /// body makes to its own fields are not defined (workers share one copy); write results through spans or pointers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void For<TBody>(int count, ref TBody body) where TBody : struct, IParallelBody, allows ref struct
    {
        if (count <= 0) return;
        if (count == Closed) throw new ArgumentOutOfRangeException(nameof(count), count, "count must be less than int.MaxValue.");
        if (count == 1 || _workers.Length == 0)
        {
            for (int i = 0; i < count; i++) body.Invoke(i);
            return;
        }
        // A stack copy has a fixed address, so workers may reach it through a raw pointer while the caller waits.
        TBody local = body;
        Run(count, &InvokeBody<TBody>, Unsafe.AsPointer(ref local));
        body = local;
    }

    private static void InvokeBody<TBody>(void* state, int index) where TBody : struct, IParallelBody, allows ref struct
        => Unsafe.AsRef<TBody>(state).Invoke(index);

    private readonly struct InterfaceBody(IParallelBody inner) : IParallelBody
    {
        public void Invoke(int index) => inner.Invoke(index);
    }

    private void Run(int count, delegate*<void*, int, void> invoke, void* state)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException("WorkerPool.For is already running (nested or concurrent calls are not supported).");
        try
        {
            int generation = ++_generation;
            // Close the new generation before its fields change: a worker still holding the previous generation's fields
            // (or reading them half-written) can then claim nothing, since its compare-exchange expects an older ticket and
            // the closed index is past every count. Claiming into a half-published call ran an index twice and counted an
            // extra completion, so the wait below never ended.
            Interlocked.Exchange(ref _ticket, ((long)generation << 32) | Closed);
            _invoke = invoke;
            _state = state;
            _count = count;
            _completed = 0;
            _failure = null;
            // Opening the ticket (generation, index 0) releases the fields above to the workers.
            Interlocked.Exchange(ref _ticket, (long)generation << 32);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_gate) Monitor.PulseAll(_gate);

            Drain(generation, invoke, state, count);

            // Wait only for items already claimed; a worker that has not woken yet claims nothing and is not waited for.
            var spin = new SpinWait();
            while (Volatile.Read(ref _completed) != count)
                spin.SpinOnce(sleep1Threshold: -1);

            _state = null;
            _failure?.Throw();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Claims and runs indices of <paramref name="generation"/> until none are left.</summary>
    private void Drain(int generation, delegate*<void*, int, void> invoke, void* state, int count)
    {
        while (true)
        {
            long ticket = Volatile.Read(ref _ticket);
            // A claim succeeds only while the ticket still belongs to this generation, so a late worker holding stale
            // fields can never run an index of a newer call.
            if ((int)(ticket >> 32) != generation || (int)ticket >= count) return;
            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket) continue;
            try
            {
                invoke(state, (int)ticket);
            }
            catch (Exception e)
            {
                // Remaining items still run; the first failure is rethrown on the calling thread.
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }
            Interlocked.Increment(ref _completed);
        }
    }

    private void WorkerLoop()
    {
        int seen = 0;
        while (true)
        {
            if (!WaitForWork(ref seen)) return;
            long ticket = Volatile.Read(ref _ticket);
            // The caller is between closing and opening this generation: a few stores away.
            while ((int)ticket == Closed)
            {
                Thread.SpinWait(4);
                ticket = Volatile.Read(ref _ticket);
            }
            int generation = (int)(ticket >> 32);
            seen = generation;
            var invoke = _invoke;
            var state = _state;
            int count = _count;
            // The fields are read before Drain re-reads the ticket: if they belong to a later call, that ticket shows
            // its generation (it was closed before they were written) and the claim fails.
            Interlocked.MemoryBarrier();
            Drain(generation, invoke, state, count);
        }
    }

    private int PublishedGeneration => (int)(Volatile.Read(ref _ticket) >> 32);

    private bool WaitForWork(ref int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + _spinTicks;
        int polls = 0;
        while (true)
        {
            if (_disposed) return false;
            if (PublishedGeneration != seen) return true;
            Thread.SpinWait(8);
            if ((++polls & 63) == 0 && Stopwatch.GetTimestamp() > deadline) break;
        }

        Interlocked.Increment(ref _sleepers);
        try
        {
            lock (_gate)
            {
                while (!_disposed && PublishedGeneration == seen)
                    Monitor.Wait(_gate);
            }
        }
        finally
        {
            Interlocked.Decrement(ref _sleepers);
        }
        return !_disposed;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_gate) Monitor.PulseAll(_gate);
        foreach (var worker in _workers) worker.Join();
    }
}
