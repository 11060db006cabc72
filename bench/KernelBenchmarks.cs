using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>FP16 mat-vec (decode), a 16-row batched step and mat-mat (prefill) on the 125M-model shapes: row-major weights (<see cref="MatMul"/>, the vision tower's) against the decoder's packed ones (<see cref="PackedMatMul"/>).</summary>
[MemoryDiagnoser]
public unsafe class MatMulBenchmarks
{
    private WorkerPool _pool = null!;
    private Half* _w;
    private PackedMatrix _packed = null!;
    private float[] _x = null!, _y = null!;

    /// <summary>"rows x k x n": rows = 1 is GEMV.</summary>
    [Params("1x768x2048", "1x2048x768", "1x768x32000", "16x768x2048", "128x768x2048")]
    public string Shape { get; set; } = "";

    private int _rows, _k, _n;

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split('x');
        (_rows, _k, _n) = (int.Parse(parts[0]), int.Parse(parts[1]), int.Parse(parts[2]));
        _pool = new WorkerPool(Environment.ProcessorCount);
        _w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * _k * _n), 64);
        var rng = new Random(1);
        for (long i = 0; i < (long)_k * _n; i++) _w[i] = (Half)(rng.NextSingle() - 0.5f);
        _x = new float[_rows * _k];
        for (int i = 0; i < _x.Length; i++) _x[i] = rng.NextSingle() - 0.5f;
        _y = new float[_rows * _n];
        _packed = PackedMatrix.Pack(_w, _n, _k, _pool);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_w);
        _packed.Dispose();
        _pool.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void RowMajor() => MatMul.Multiply(_x, _rows, _k, _w, _n, _y, _pool);

    [Benchmark]
    public void Packed() => PackedMatMul.Multiply(_x, _rows, _packed, _y, _pool);
}

/// <summary>Causal GQA attention: decode (1 token at 512 context) and a 128-token prefill; 12 heads, 4 KV heads, d 64.</summary>
[MemoryDiagnoser]
public class AttentionBenchmarks
{
    private const int Heads = 12, KvHeads = 4, HeadDim = 64, Capacity = 1024;
    private WorkerPool _pool = null!;
    private float[] _q = null!, _k = null!, _v = null!, _o = null!;

    [Params(1, 128)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _pool = new WorkerPool(Environment.ProcessorCount);
        var rng = new Random(2);
        _q = Random(rng, Tokens * Heads * HeadDim);
        _k = Random(rng, KvHeads * Capacity * HeadDim);
        _v = Random(rng, KvHeads * Capacity * HeadDim);
        _o = new float[_q.Length];
    }

    private static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = rng.NextSingle() - 0.5f;
        return a;
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    /// <summary>Decode attends at position 511; prefill covers positions 0..127.</summary>
    [Benchmark]
    public void Causal() => Attention.Causal(_q, Tokens, Tokens == 1 ? 511 : 0, _k, _v, Capacity, Heads, KvHeads, HeadDim, _o, _pool);
}

[MemoryDiagnoser]
public class RmsNormBenchmarks
{
    private readonly float[] _x = new float[768], _w = new float[768], _y = new float[768];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(3);
        for (int i = 0; i < _x.Length; i++) { _x[i] = rng.NextSingle(); _w[i] = rng.NextSingle(); }
    }

    [Benchmark]
    public void Forward() => RmsNorm.Forward(_x, _w, 1e-5f, _y);
}
