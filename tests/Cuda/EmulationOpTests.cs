using Xunit;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Emulation;
using OpenAutoGlm.Kernels.Ops;

namespace OpenAutoGlm.Tests.Cuda;

/// <summary>Shared emulator and pool for the op tests (kernels compiled once per process, cached across runs).</summary>
public sealed class EmuFixture : IDisposable
{
    private readonly Lazy<EmuBackend> _backend = new(() =>
    {
        EmuBackend b = EmuBackend.Create();
        // Variants the op tests use, compiled up front on all cores.
        b.Prebuild(KernelCatalog.Variants([64, 128], []).Concat(
            [new(AttentionDecode.Source, AttentionDecode.Defines(64, 4)), new(AttentionDecode.Source, AttentionDecode.Defines(128, 1))]));
        return b;
    });

    public EmuBackend Backend => _backend.Value;

    public void Dispose()
    {
        if (_backend.IsValueCreated) _backend.Value.Dispose();
    }
}

public sealed class EmulationOpTests(EmuFixture fixture) : IClassFixture<EmuFixture>
{
    private IKernelBackend B => fixture.Backend;

    // ---------- helpers ----------

    private static float[] Randn(Random r, int n, double scale = 1.0)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1.0 - r.NextDouble(), u2 = r.NextDouble();
            a[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return a;
    }

    private static Half[] ToHalf(float[] a) => [.. a.Select(v => (Half)v)];
    private static double[] HalfToDouble(Half[] a) => [.. a.Select(v => (double)(float)v)];
    private static double RoundHalf(double v) => (double)(float)(Half)(float)v;

    private static DeviceBuffer Output(DevicePool pool, int floats)
    {
        DeviceBuffer b = pool.Allocate<float>(floats);
        b.PoisonNaN();
        return b;
    }

    /// <summary>|a − e| ≤ rtol·(|e| + rms(e)) for every element, and no NaN.</summary>
    private static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol = 1e-3, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        double rms = 0;
        foreach (double e in expected) rms += e * e;
        rms = Math.Sqrt(rms / Math.Max(1, expected.Length)) + 1e-12;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= rtol * (Math.Abs(expected[i]) + rms)))
            {
                Assert.Fail($"{what}[{i}]: got {actual[i]}, expected {expected[i]} (err {err:g3}, rms {rms:g3})");
            }
        }
    }

    // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
    private static double Erf(double x)
    {
        double s = Math.Sign(x), a = Math.Abs(x), t = 1 / (1 + 0.3275911 * a);
        double y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-a * a);
        return s * y;
    }

    // ---------- ops ----------

    [EmulationFact]
    public void Embedding_gathers_fp16_rows_and_zeroes_bad_ids()
    {
        var r = new Random(1);
        const int vocab = 37, dim = 45;
        int[] ids = [3, 0, 36, 17, -1, 40, 3];
        Half[] table = ToHalf(Randn(r, vocab * dim));
        using var pool = new DevicePool(B.Memory);
        var dt = pool.Upload<Half>(table);
        var di = pool.Upload<int>(ids);
        var o = Output(pool, ids.Length * dim);
        Embedding.Gather(B, dt, di, o, ids.Length, vocab, dim);
        var expected = new double[ids.Length * dim];
        for (int t = 0; t < ids.Length; t++)
            for (int d = 0; d < dim; d++)
                expected[t * dim + d] = ids[t] >= 0 && ids[t] < vocab ? (double)(float)table[ids[t] * dim + d] : 0;
        AssertClose(o.Download<float>(), expected, 0, "embedding");
    }

    [EmulationFact]
    public void RmsNorm_with_and_without_residual()
    {
        var r = new Random(2);
        const int rows = 3, dim = 77;
        float[] x = Randn(r, rows * dim), res = Randn(r, rows * dim);
        Half[] w = ToHalf(Randn(r, dim));
        using var pool = new DevicePool(B.Memory);
        foreach (bool withResidual in new[] { true, false })
        {
            var dx = pool.Upload<float>(x);
            var dr = pool.Upload<float>(res);
            var dw = pool.Upload<Half>(w);
            var o = Output(pool, rows * dim);
            RmsNorm.Run(B, dx, withResidual ? dr : DevicePtr.Null, dw, o, rows, dim, 1e-5f);
            var h = new double[rows * dim];
            var expected = new double[rows * dim];
            for (int i = 0; i < rows; i++)
            {
                double ss = 0;
                for (int d = 0; d < dim; d++)
                {
                    h[i * dim + d] = x[i * dim + d] + (withResidual ? res[i * dim + d] : 0);
                    ss += h[i * dim + d] * h[i * dim + d];
                }
                double inv = 1 / Math.Sqrt(ss / dim + 1e-5);
                for (int d = 0; d < dim; d++) expected[i * dim + d] = h[i * dim + d] * inv * (float)w[d];
            }
            AssertClose(o.Download<float>(), expected, 1e-3, "rmsnorm");
            AssertClose(dx.Download<float>(), h, 1e-6, "hidden+residual");
        }
    }

    [EmulationFact]
    public void LayerNorm_with_and_without_bias()
    {
        var r = new Random(3);
        const int rows = 3, dim = 77;
        float[] x = Randn(r, rows * dim, 2);
        for (int i = 0; i < x.Length; i++) x[i] += 3; // non-zero mean
        Half[] w = ToHalf(Randn(r, dim)), b = ToHalf(Randn(r, dim));
        using var pool = new DevicePool(B.Memory);
        var dx = pool.Upload<float>(x);
        var dw = pool.Upload<Half>(w);
        var db = pool.Upload<Half>(b);
        foreach (bool withBias in new[] { true, false })
        {
            var o = Output(pool, rows * dim);
            LayerNorm.Run(B, dx, dw, withBias ? db : DevicePtr.Null, o, rows, dim, 1e-5f);
            var expected = new double[rows * dim];
            for (int i = 0; i < rows; i++)
            {
                double mean = 0, v = 0;
                for (int d = 0; d < dim; d++) mean += x[i * dim + d];
                mean /= dim;
                for (int d = 0; d < dim; d++) v += (x[i * dim + d] - mean) * (x[i * dim + d] - mean);
                double inv = 1 / Math.Sqrt(v / dim + 1e-5);
                for (int d = 0; d < dim; d++)
                    expected[i * dim + d] = (x[i * dim + d] - mean) * inv * (float)w[d] + (withBias ? (float)b[d] : 0);
            }
            AssertClose(o.Download<float>(), expected, 1e-3, "layernorm");
        }
    }

    [EmulationFact]
    public void Rope_rotate_half_and_interleaved_partial()
    {
        var r = new Random(4);
        const int tokens = 5, heads = 3, headDim = 64;
        int[] pos = [0, 1, 7, 33, 50];
        foreach ((RopeMode mode, int rot) in new[] { (RopeMode.RotateHalf, 64), (RopeMode.RotateHalf, 32), (RopeMode.Interleaved, 32) })
        {
            float[] x = Randn(r, tokens * heads * headDim);
            using var pool = new DevicePool(B.Memory);
            var dx = pool.Upload<float>(x);
            var dp = pool.Upload<int>(pos);
            Rope.Apply(B, dx, dp, pool.Upload<float>(OpenAutoGlm.Kernels.Cpu.Rope.InverseFrequencies(rot, 10000)), tokens, heads, headDim, rot, mode);
            var expected = x.Select(v => (double)v).ToArray();
            for (int t = 0; t < tokens; t++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < rot / 2; i++)
                    {
                        int baseIdx = (t * heads + h) * headDim;
                        int ia = mode == RopeMode.Interleaved ? 2 * i : i, ib = mode == RopeMode.Interleaved ? 2 * i + 1 : i + rot / 2;
                        double ang = pos[t] * Math.Pow(10000.0, -2.0 * i / rot);
                        double a = x[baseIdx + ia], b = x[baseIdx + ib];
                        expected[baseIdx + ia] = a * Math.Cos(ang) - b * Math.Sin(ang);
                        expected[baseIdx + ib] = b * Math.Cos(ang) + a * Math.Sin(ang);
                    }
            AssertClose(dx.Download<float>(), expected, 1e-3, $"rope {mode} rot={rot}");
        }
    }

    [EmulationFact]
    public void KvCache_store_writes_fp16_rows_at_positions()
    {
        var r = new Random(5);
        const int tokens = 3, kvHeads = 2, headDim = 64, capacity = 10, start = 4;
        float[] src = Randn(r, tokens * kvHeads * headDim);
        using var pool = new DevicePool(B.Memory);
        var ds = pool.Upload<float>(src);
        var cache = pool.Allocate(KvCache.Bytes(kvHeads, capacity, headDim));
        cache.Fill(0);
        KvCache.Store(B, ds, cache, tokens, kvHeads, headDim, capacity, start);
        Half[] got = cache.Download<Half>();
        for (int h = 0; h < kvHeads; h++)
            for (int p = 0; p < capacity; p++)
                for (int d = 0; d < headDim; d++)
                {
                    Half want = p >= start && p < start + tokens ? (Half)src[((p - start) * kvHeads + h) * headDim + d] : (Half)0f;
                    Assert.Equal(want, got[(h * capacity + p) * headDim + d]);
                }
    }

    [EmulationFact]
    public void Gemv_vector_and_scalar_paths_and_accumulate()
    {
        var r = new Random(6);
        foreach ((int n, int k, bool acc) in new[] { (37, 72, false), (37, 45, false), (19, 136, true) })
        {
            Half[] w = ToHalf(Randn(r, n * k));
            float[] x = Randn(r, k), y0 = Randn(r, n);
            using var pool = new DevicePool(B.Memory);
            var dw = pool.Upload<Half>(w);
            var dx = pool.Upload<float>(x);
            var dy = acc ? pool.Upload<float>(y0) : Output(pool, n);
            Gemv.Run(B, dw, dx, dy, n, k, acc);
            var expected = new double[n];
            for (int i = 0; i < n; i++)
            {
                double s = acc ? y0[i] : 0;
                for (int j = 0; j < k; j++) s += (double)(float)w[i * k + j] * x[j];
                expected[i] = s;
            }
            AssertClose(dy.Download<float>(), expected, 1e-3, $"gemv n={n} k={k}");
        }
    }

    [EmulationFact]
    public void Gemm_mma_matches_reference_on_odd_sizes()
    {
        var r = new Random(7);
        foreach ((int m, int n, int k, bool acc) in new[] { (37, 45, 70, false), (70, 130, 33, true) })
        {
            float[] x = Randn(r, m * k), y0 = Randn(r, m * n);
            Half[] w = ToHalf(Randn(r, n * k));
            using var pool = new DevicePool(B.Memory);
            var dx = pool.Upload<float>(x);
            var dw = pool.Upload<Half>(w);
            var dy = acc ? pool.Upload<float>(y0) : Output(pool, m * n);
            Gemm.Run(B, dx, dw, dy, m, n, k, acc);
            var expected = new double[m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = acc ? y0[i * n + j] : 0;
                    for (int q = 0; q < k; q++) s += RoundHalf(x[i * k + q]) * (float)w[j * k + q]; // X is consumed as FP16
                    expected[i * n + j] = s;
                }
            AssertClose(dy.Download<float>(), expected, 1e-3, $"gemm {m}x{n}x{k}");
        }
    }

    private static double[] ReferenceAttention(float[] q, Half[] kc, Half[] vc, int tokens, int heads, int kvHeads, int headDim,
        int kvLen, int capacity, int startPos, double scale, bool causal)
    {
        var o = new double[tokens * heads * headDim];
        int group = heads / kvHeads;
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                int kvh = h / group;
                int end = causal ? Math.Min(kvLen, startPos + t + 1) : kvLen;
                var s = new double[end];
                double m = double.NegativeInfinity;
                for (int j = 0; j < end; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++)
                        dot += q[(t * heads + h) * headDim + d] * (double)(float)kc[(kvh * capacity + j) * headDim + d];
                    s[j] = dot * scale;
                    m = Math.Max(m, s[j]);
                }
                double l = 0;
                for (int j = 0; j < end; j++) { s[j] = Math.Exp(s[j] - m); l += s[j]; }
                for (int d = 0; d < headDim; d++)
                {
                    double acc = 0;
                    for (int j = 0; j < end; j++) acc += s[j] * (float)vc[(kvh * capacity + j) * headDim + d];
                    o[(t * heads + h) * headDim + d] = acc / l;
                }
            }
        return o;
    }

    [EmulationFact]
    public void Prefill_attention_causal_gqa_and_cross()
    {
        var r = new Random(8);
        foreach ((int tokens, int heads, int kvHeads, int headDim, int kvLen, int capacity, int startPos, bool causal) in new[]
                 {
                     (19, 4, 2, 64, 32, 40, 13, true),   // prefill continuing an existing cache, GQA 2
                     (70, 2, 1, 64, 70, 75, 0, true),    // two query blocks, several KV tiles, GQA 2
                     (7, 4, 4, 128, 23, 23, 0, false),   // cross-attention (bidirectional), head dim 128
                 })
        {
            float[] q = Randn(r, tokens * heads * headDim);
            Half[] kc = ToHalf(Randn(r, kvHeads * capacity * headDim)), vc = ToHalf(Randn(r, kvHeads * capacity * headDim));
            using var pool = new DevicePool(B.Memory);
            var dq = pool.Upload<float>(q);
            var dk = pool.Upload<Half>(kc);
            var dv = pool.Upload<Half>(vc);
            var o = Output(pool, tokens * heads * headDim);
            float scale = 1f / MathF.Sqrt(headDim);
            AttentionPrefill.Run(B, dq, dk, dv, o, tokens, heads, kvHeads, headDim, kvLen, capacity, startPos, scale, causal);
            float[] qRounded = [.. q.Select(v => (float)RoundHalf(v * scale) / scale)]; // Q·scale is consumed as FP16
            double[] expected = ReferenceAttention(qRounded, kc, vc, tokens, heads, kvHeads, headDim, kvLen, capacity, startPos, scale, causal);
            AssertClose(o.Download<float>(), expected, 1e-3, $"prefill T={tokens} D={headDim} causal={causal}");
        }
    }

    [EmulationFact]
    public void Decode_attention_split_k_matches_reference()
    {
        var r = new Random(9);
        foreach ((int heads, int kvHeads, int headDim, int kvLen, int capacity, int splits) in new[]
                 {
                     (8, 2, 64, 157, 200, 0),   // GQA 4, automatic splits
                     (8, 2, 64, 157, 200, 5),   // explicit 5 splits (uneven last chunk)
                     (3, 3, 128, 9, 16, 0),     // MHA, head dim 128, single short split
                 })
        {
            float[] q = Randn(r, heads * headDim);
            Half[] kc = ToHalf(Randn(r, kvHeads * capacity * headDim)), vc = ToHalf(Randn(r, kvHeads * capacity * headDim));
            using var pool = new DevicePool(B.Memory);
            var dq = pool.Upload<float>(q);
            var dk = pool.Upload<Half>(kc);
            var dv = pool.Upload<Half>(vc);
            var scratch = pool.Allocate<float>(AttentionDecode.ScratchFloats(heads, headDim));
            scratch.PoisonNaN();
            var o = Output(pool, heads * headDim);
            float scale = 1f / MathF.Sqrt(headDim);
            AttentionDecode.Run(B, dq, dk, dv, scratch, o, heads, kvHeads, headDim, kvLen, capacity, scale, splits);
            double[] expected = ReferenceAttention(q, kc, vc, 1, heads, kvHeads, headDim, kvLen, capacity, kvLen - 1, scale, causal: true);
            AssertClose(o.Download<float>(), expected, 1e-3, $"decode kv={kvLen} splits={splits}");
        }
    }

    [EmulationFact]
    public void Fusion_gate_blends_with_sigmoid()
    {
        var r = new Random(10);
        const int n = 1001;
        float[] h = Randn(r, n), f = Randn(r, n), pre = Randn(r, n, 3);
        using var pool = new DevicePool(B.Memory);
        var dh = pool.Upload<float>(h);
        FusionGate.Run(B, dh, pool.Upload<float>(f), pool.Upload<float>(pre), n);
        double[] expected = [.. Enumerable.Range(0, n).Select(i => { double g = 1 / (1 + Math.Exp(-pre[i])); return g * f[i] + (1 - g) * h[i]; })];
        AssertClose(dh.Download<float>(), expected, 1e-4, "gate");
    }

    [EmulationFact]
    public void Bias_add_broadcasts_over_rows()
    {
        var r = new Random(12);
        const int rows = 5, cols = 37;
        float[] y = Randn(r, rows * cols), b = Randn(r, cols);
        using var pool = new DevicePool(B.Memory);
        var dy = pool.Upload<float>(y);
        BiasAdd.Run(B, dy, pool.Upload<float>(b), rows, cols);
        double[] expected = [.. Enumerable.Range(0, rows * cols).Select(i => (double)y[i] + b[i % cols])];
        AssertClose(dy.Download<float>(), expected, 1e-6, "bias");
    }

    [EmulationFact]
    public void SwiGlu_on_fused_gate_up_and_gelu_variants()
    {
        var r = new Random(11);
        const int rows = 3, cols = 77;
        float[] gu = Randn(r, rows * 2 * cols, 2);
        using var pool = new DevicePool(B.Memory);
        var dgu = pool.Upload<float>(gu);
        var o = Output(pool, rows * cols);
        Activations.SwiGlu(B, dgu, dgu.Ptr.Offset(4L * cols), o, rows, cols, 2 * cols, cols);
        var expected = new double[rows * cols];
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < cols; c++)
            {
                double g = gu[i * 2 * cols + c], u = gu[i * 2 * cols + cols + c];
                expected[i * cols + c] = g / (1 + Math.Exp(-g)) * u;
            }
        AssertClose(o.Download<float>(), expected, 1e-4, "swiglu");

        const int n = 1001;
        float[] x = Randn(r, n, 3);
        var dx = pool.Upload<float>(x);
        foreach (bool tanh in new[] { false, true })
        {
            var go = Output(pool, n);
            Activations.Gelu(B, dx, go, n, tanh);
            double[] e = [.. x.Select(v => tanh
                ? 0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)))
                : 0.5 * v * (1 + Erf(v / Math.Sqrt(2))))];
            AssertClose(go.Download<float>(), e, 1e-4, tanh ? "gelu_tanh" : "gelu_erf");
        }
    }

    [EmulationFact]
    public void Softmax_rows_with_scale()
    {
        var r = new Random(12);
        const int rows = 3, cols = 1001;
        float[] x = Randn(r, rows * cols, 4);
        using var pool = new DevicePool(B.Memory);
        var o = Output(pool, rows * cols);
        Softmax.Rows(B, pool.Upload<float>(x), o, rows, cols, 0.7f);
        var expected = new double[rows * cols];
        for (int i = 0; i < rows; i++)
        {
            double m = Enumerable.Range(0, cols).Max(j => 0.7 * x[i * cols + j]);
            double s = Enumerable.Range(0, cols).Sum(j => Math.Exp(0.7 * x[i * cols + j] - m));
            for (int j = 0; j < cols; j++) expected[i * cols + j] = Math.Exp(0.7 * x[i * cols + j] - m) / s;
        }
        AssertClose(o.Download<float>(), expected, 1e-3, "softmax");
    }

    [EmulationFact]
    public void Argmax_and_repetition_penalty()
    {
        var r = new Random(13);
        const int rows = 2, vocab = 1001;
        float[] x = Randn(r, rows * vocab);
        x[777] = 9f;
        x[vocab + 5] = 9f;
        x[vocab + 900] = 9f; // tie: lowest index wins
        using var pool = new DevicePool(B.Memory);
        var dx = pool.Upload<float>(x);
        var o = pool.Allocate<int>(rows);
        o.Fill(0xFF);
        Sampling.Argmax(B, dx, o, rows, vocab);
        Assert.Equal([777, 5], o.Download<int>());

        int[] ids = [777, 3, 4];
        x[3] = -2f;
        x[4] = 2f;
        var dl = pool.Upload<float>(x.AsSpan(0, vocab));
        Sampling.ApplyRepetitionPenalty(B, dl, pool.Upload<int>(ids), ids.Length, vocab, 1.3f);
        float[] got = dl.Download<float>();
        Assert.Equal(9f / 1.3f, got[777], 5);
        Assert.Equal(-2f * 1.3f, got[3], 5);
        Assert.Equal(2f / 1.3f, got[4], 5);
        Assert.Equal(x[10], got[10]);
    }

    private static int ReferenceSample(float[] logits, SamplingParams p, double u)
    {
        int n = logits.Length;
        double mx = logits.Max();
        double[] pr = [.. logits.Select(v => Math.Exp((v - mx) / p.Temperature))];
        double z = pr.Sum();
        for (int i = 0; i < n; i++) pr[i] /= z;
        double[] sorted = [.. pr.OrderDescending()];
        double th = 0;
        if (p.TopK > 0 && p.TopK < n) th = sorted[p.TopK - 1];
        if (p.TopP > 0 && p.TopP < 1)
        {
            double kept = pr.Where(v => v >= th).Sum(), acc = 0;
            foreach (double v in sorted.Where(v => v >= th))
            {
                acc += v;
                if (acc >= p.TopP * kept) { th = Math.Max(th, v); break; }
            }
        }
        th = Math.Max(th, p.MinP * sorted[0]);
        double total = pr.Where(v => v >= th).Sum(), target = u * total, run = 0;
        int last = -1;
        for (int i = 0; i < n; i++)
        {
            if (pr[i] < th) continue;
            run += pr[i];
            last = i;
            if (run > target) return i;
        }
        return last;
    }

    [EmulationFact]
    public void Sampling_filters_match_reference()
    {
        var r = new Random(14);
        const int vocab = 1001;
        float[] logits = Randn(r, vocab, 3);
        using var pool = new DevicePool(B.Memory);
        var dl = pool.Upload<float>(logits);
        var probs = pool.Allocate<float>(vocab);
        var o = pool.Allocate<int>(1);
        SamplingParams[] configs =
        [
            new(Temperature: 0.8f, TopK: 50, TopP: 0.9f, MinP: 0.05f),
            new(Temperature: 1.0f, TopK: 0, TopP: 0.5f),
            new(Temperature: 1.3f, TopK: 7),
            new(Temperature: 0.7f, MinP: 0.1f),
            new(Temperature: 1.0f),
        ];
        float[] uniforms = [0.03f, 0.41f, 0.77f, 0.97f];
        foreach (SamplingParams p in configs)
            foreach (float u in uniforms)
            {
                o.Fill(0xFF);
                Sampling.Sample(B, dl, probs, o, vocab, p, u);
                Assert.Equal(ReferenceSample(logits, p, u), o.Download<int>()[0]);
            }
    }

    [EmulationFact]
    public void Launchers_reject_bad_sizes_with_the_value()
    {
        using var pool = new DevicePool(B.Memory);
        var buf = pool.Allocate(1024);
        var e1 = Assert.Throws<ArgumentOutOfRangeException>(() => Gemv.Run(B, buf, buf, buf, 0, 8));
        Assert.Contains("got 0", e1.Message, StringComparison.Ordinal);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            AttentionPrefill.Run(B, buf, buf, buf, buf, 4, 6, 4, 64, 8, 8, 0, 1f, true));
        Assert.Contains("kvHeads = 4", e2.Message, StringComparison.Ordinal);
        var e3 = Assert.Throws<ArgumentOutOfRangeException>(() =>
            Rope.Apply(B, buf, buf, buf, 1, 1, 64, 33, RopeMode.RotateHalf));
        Assert.Contains("33", e3.Message, StringComparison.Ordinal);
    }
}
