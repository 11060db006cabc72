using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>One op compared between two backends.</summary>
public sealed record KernelParityRow(string Op, int Elements, double MaxAbsError, double MaxRelError, bool Passed);

/// <summary>
/// Runs every op on two backends with the same random inputs and compares outputs (backs
/// <c>autoglm kernels --parity</c>: GPU vs <c>cuda-emu</c>). Error is relative to |ref| + rms(ref).
/// </summary>
public static class KernelParity
{
    public static IReadOnlyList<KernelParityRow> Run(IKernelBackend device, IKernelBackend reference, int headDim = 128, int gqa = 4,
        double tolerance = 2e-3, int seed = 1234)
    {
        var rows = new List<KernelParityRow>();
        void Compare(string op, Func<IKernelBackend, DevicePool, float[]> run)
        {
            float[] a, b;
            using (var p = new DevicePool(device.Memory, "parity")) { a = run(device, p); device.Synchronize(); }
            using (var p = new DevicePool(reference.Memory, "parity")) { b = run(reference, p); reference.Synchronize(); }
            double rms = Math.Sqrt(b.Sum(v => (double)v * v) / Math.Max(1, b.Length)) + 1e-12;
            double maxAbs = 0, maxRel = 0;
            bool finite = true;
            for (int i = 0; i < b.Length; i++)
            {
                finite &= float.IsFinite(a[i]);
                double e = Math.Abs(a[i] - (double)b[i]);
                maxAbs = Math.Max(maxAbs, e);
                maxRel = Math.Max(maxRel, e / (Math.Abs(b[i]) + rms));
            }
            rows.Add(new KernelParityRow(op, b.Length, maxAbs, maxRel, finite && maxRel <= tolerance));
        }

        var rng = new Random(seed);
        float[] R(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        Half[] H(int n) => [.. R(n).Select(v => (Half)v)];
        DeviceBuffer Out(DevicePool p, long floats) { DeviceBuffer o = p.Allocate<float>(floats); o.PoisonNaN(); return o; }

        const int dim = 1000, n = 777, k = 1024, m = 45, t = 37, kvLen = 300, cap = 320;
        int heads = 2 * gqa, kvHeads = 2;
        float[] x = R(m * k), v = R(k), res = R(m * dim), hid = R(m * dim), logits = R(2 * 32003);
        Half[] w = H(n * k), nw = H(dim), kc = H(kvHeads * cap * headDim), vc = H(kvHeads * cap * headDim);
        float[] q = R(t * heads * headDim);
        int[] pos = [.. Enumerable.Range(0, t).Select(i => 5 + i)];
        float scale = 1f / MathF.Sqrt(headDim);

        Compare("gemv", (b, p) => { var y = Out(p, n); Gemv.Run(b, p.Upload<Half>(w), p.Upload<float>(v), y, n, k); return y.Download<float>(); });
        Compare("gemm", (b, p) => { var y = Out(p, m * n); Gemm.Run(b, p.Upload<float>(x), p.Upload<Half>(w), y, m, n, k); return y.Download<float>(); });
        Compare("rms_norm_residual", (b, p) =>
        {
            var y = Out(p, m * dim);
            RmsNorm.Run(b, p.Upload<float>(hid), p.Upload<float>(res), p.Upload<Half>(nw), y, m, dim, 1e-6f);
            return y.Download<float>();
        });
        Compare("layer_norm", (b, p) =>
        {
            var y = Out(p, m * dim);
            LayerNorm.Run(b, p.Upload<float>(hid), p.Upload<Half>(nw), p.Upload<Half>(nw), y, m, dim, 1e-5f);
            return y.Download<float>();
        });
        Compare("rope", (b, p) =>
        {
            var xq = p.Upload<float>(q);
            Rope.Apply(b, xq, p.Upload<int>(pos), p.Upload<float>(Cpu.Rope.InverseFrequencies(headDim / 2, 10000)), t, heads, headDim, headDim / 2, RopeMode.Interleaved);
            return xq.Download<float>();
        });
        Compare("attention_prefill", (b, p) =>
        {
            var o = Out(p, t * heads * headDim);
            AttentionPrefill.Run(b, p.Upload<float>(q), p.Upload<Half>(kc), p.Upload<Half>(vc), o, t, heads, kvHeads, headDim,
                kvLen, cap, kvLen - t, scale, causal: true);
            return o.Download<float>();
        });
        Compare("attention_decode", (b, p) =>
        {
            var o = Out(p, heads * headDim);
            var scratch = p.Allocate<float>(AttentionDecode.ScratchFloats(heads, headDim));
            AttentionDecode.Run(b, p.Upload<float>(q.AsSpan(0, heads * headDim)), p.Upload<Half>(kc), p.Upload<Half>(vc), scratch, o,
                heads, kvHeads, headDim, kvLen, cap, scale);
            return o.Download<float>();
        });
        Compare("swiglu", (b, p) =>
        {
            var g = p.Upload<float>(hid);
            var o = Out(p, m * dim / 2);
            Activations.SwiGlu(b, g, g.Ptr.Offset(4L * (dim / 2)), o, m, dim / 2, dim, dim / 2);
            return o.Download<float>();
        });
        Compare("gelu_erf", (b, p) => { var o = Out(p, hid.Length); Activations.Gelu(b, p.Upload<float>(hid), o, hid.Length, false); return o.Download<float>(); });
        Compare("softmax", (b, p) => { var o = Out(p, logits.Length); Softmax.Rows(b, p.Upload<float>(logits), o, 2, logits.Length / 2); return o.Download<float>(); });
        Compare("argmax", (b, p) =>
        {
            var o = p.Allocate<int>(2);
            Sampling.Argmax(b, p.Upload<float>(logits), o, 2, logits.Length / 2);
            return [.. o.Download<int>().Select(i => (float)i)];
        });
        Compare("sample_filtered", (b, p) =>
        {
            var o = p.Allocate<int>(1);
            var probs = p.Allocate<float>(logits.Length / 2);
            Sampling.Sample(b, p.Upload<float>(logits.AsSpan(0, logits.Length / 2)), probs, o, logits.Length / 2,
                new SamplingParams(Temperature: 0.7f, TopK: 40, TopP: 0.9f, MinP: 0.02f), 0.37f);
            return [.. o.Download<int>().Select(i => (float)i)];
        });
        return rows;
    }
}
