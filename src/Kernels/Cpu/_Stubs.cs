// TEMPORARY naive stand-ins with the agreed signatures; replaced by the SIMD kernels.
namespace OpenAutoGlm.Kernels.Cpu;
public interface IParallelBody { void Invoke(int index); }
public sealed class WorkerPool(int threads) : IDisposable
{
    public int Threads { get; } = threads;
    public void For<TBody>(int count, ref TBody body) where TBody : struct, IParallelBody { for (int i = 0; i < count; i++) body.Invoke(i); }
    public void Dispose() { }
}
public static unsafe class MatMul
{
    public static void Multiply(ReadOnlySpan<float> x, int rows, int k, Half* w, int n, Span<float> y, WorkerPool pool)
    {
        for (int t = 0; t < rows; t++) for (int j = 0; j < n; j++) { float s = 0; for (int i = 0; i < k; i++) s += x[t * k + i] * (float)w[(long)j * k + i]; y[t * n + j] = s; }
    }
    public static void Multiply(ReadOnlySpan<float> x, int rows, int k, ReadOnlySpan<Half> w, int n, Span<float> y, WorkerPool pool)
    { fixed (Half* p = w) Multiply(x, rows, k, p, n, y, pool); }
}
public static class RmsNorm
{
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y, int rows = 1)
    {
        int d = weight.Length;
        for (int r = 0; r < rows; r++) { double ss = 0; for (int i = 0; i < d; i++) ss += x[r * d + i] * x[r * d + i]; float inv = (float)(1 / Math.Sqrt(ss / d + eps)); for (int i = 0; i < d; i++) y[r * d + i] = weight[i] * (x[r * d + i] * inv); }
    }
}
public static class Rope
{
    public static void Apply(Span<float> v, int heads, int headDim, int rotaryDim, bool interleaved, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = rotaryDim / 2;
        for (int h = 0; h < heads; h++) for (int i = 0; i < half; i++)
        {
            int a = h * headDim + (interleaved ? 2 * i : i), b = h * headDim + (interleaved ? 2 * i + 1 : i + half);
            float x0 = v[a], x1 = v[b]; v[a] = x0 * cos[i] - x1 * sin[i]; v[b] = x1 * cos[i] + x0 * sin[i];
        }
    }
    public static float[] InverseFrequencies(int rotaryDim, double theta)
    { var f = new float[rotaryDim / 2]; for (int i = 0; i < f.Length; i++) f[i] = (float)(1.0 / Math.Pow(theta, 2.0 * i / rotaryDim)); return f; }
}
public static class Attention
{
    public static void Causal(ReadOnlySpan<float> q, int tokens, int startPos, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int capacity, int heads, int kvHeads, int headDim, Span<float> output, WorkerPool pool)
    {
        int rep = heads / kvHeads; float scale = 1f / MathF.Sqrt(headDim);
        for (int t = 0; t < tokens; t++) for (int h = 0; h < heads; h++)
        {
            int kh = h / rep, n = startPos + t + 1; var s = new float[n];
            for (int p = 0; p < n; p++) { float d = 0; for (int i = 0; i < headDim; i++) d += q[(t * heads + h) * headDim + i] * keys[(kh * capacity + p) * headDim + i]; s[p] = d * scale; }
            VectorOps.Softmax(s);
            for (int i = 0; i < headDim; i++) { float o = 0; for (int p = 0; p < n; p++) o += s[p] * values[(kh * capacity + p) * headDim + i]; output[(t * heads + h) * headDim + i] = o; }
        }
    }
}
public static class Activations
{
    public static void SwiGlu(ReadOnlySpan<float> gateUp, int rows, int inter, Span<float> output)
    { for (int t = 0; t < rows; t++) for (int i = 0; i < inter; i++) { float g = gateUp[t * 2 * inter + i]; output[t * inter + i] = g / (1 + MathF.Exp(-g)) * gateUp[t * 2 * inter + inter + i]; } }
}
public static class VectorOps
{
    public static void Add(Span<float> acc, ReadOnlySpan<float> x) { for (int i = 0; i < acc.Length; i++) acc[i] += x[i]; }
    public static void AddBias(Span<float> y, int rows, ReadOnlySpan<float> bias) { for (int t = 0; t < rows; t++) for (int i = 0; i < bias.Length; i++) y[t * bias.Length + i] += bias[i]; }
    public static int ArgMax(ReadOnlySpan<float> x) { int b = 0; for (int i = 1; i < x.Length; i++) if (x[i] > x[b]) b = i; return b; }
    public static void Softmax(Span<float> x) { float m = float.NegativeInfinity; foreach (var v in x) m = Math.Max(m, v); float s = 0; for (int i = 0; i < x.Length; i++) { x[i] = MathF.Exp(x[i] - m); s += x[i]; } for (int i = 0; i < x.Length; i++) x[i] /= s; }
    public static void Scale(Span<float> x, float s) { for (int i = 0; i < x.Length; i++) x[i] *= s; }
}
public static unsafe class Embedding
{
    public static void Gather(Half* table, int dim, ReadOnlySpan<int> ids, Span<float> output)
    { for (int t = 0; t < ids.Length; t++) for (int i = 0; i < dim; i++) output[t * dim + i] = (float)table[(long)ids[t] * dim + i]; }
}
public static class MemoryBandwidth { public static double MeasureReadBytesPerSecond(WorkerPool pool, long bytes = 256L << 20) => 36e9; }
public static class FmaPeak { public static double MeasureFlopsPerSecond(WorkerPool pool) => 234e9; }
