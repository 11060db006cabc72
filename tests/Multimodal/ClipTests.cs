using OpenAutoGlm.Convert;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Multimodal;

/// <summary>CLIPModel dual encoders through converter and engine, against the double-precision reference.</summary>
public class ClipTests
{
    private sealed class TinyClip : IDisposable
    {
        private readonly TempDirectory _dir = new();

        public TinyClip(TinyCheckpointSpec spec)
        {
            Spec = spec;
            Tensors = TinyCheckpoint.Write(_dir.Combine("hf"), spec);
            HfConverter.Convert(_dir.Combine("hf"), _dir.Combine("model"), new ConvertOptions());
            Model = AutoGlmModel.Load(_dir.Combine("model"), new ModelOptions { Threads = 2 });
            Reference = new ReferenceClip(spec, Tensors);
        }

        public TinyCheckpointSpec Spec { get; }
        public IReadOnlyDictionary<string, float[]> Tensors { get; }
        public AutoGlmModel Model { get; }
        public ReferenceClip Reference { get; }

        public void Dispose()
        {
            Model.Dispose();
            _dir.Dispose();
        }
    }

    private static TinyCheckpointSpec Spec(int eos, int seed = 31) => new() { Architecture = TinyCheckpoint.ClipArchitecture, EosTokenIds = [eos], Seed = seed };

    private static byte[] Noise(int w, int h, int seed)
    {
        var rgb = new byte[3 * w * h];
        new Random(seed).NextBytes(rgb);
        return rgb;
    }

    private static double RelativeError(float[] engine, double[] reference) =>
        engine.Zip(reference, (a, b) => Math.Abs(a - b)).Max() / reference.Max(Math.Abs);

    [Fact]
    public void EmbeddingsAndScoresMatchTheReferenceWithArgmaxPooling()
    {
        using var m = new TinyClip(Spec(eos: 2));
        Assert.Equal(Architectures.Clip, m.Model.Manifest.Architecture);
        Assert.Null(m.Model.Manifest.Clip!.PoolingTokenId);
        Assert.True(m.Model.SupportsImages);

        byte[] a = Noise(16, 16, 1), b = Noise(16, 16, 2);
        var za = m.Model.EmbedImage(ImageInput.FromRgb(a, 16, 16));
        var zb = m.Model.EmbedImage(ImageInput.FromRgb(b, 16, 16));
        double[] ra = m.Reference.EmbedImage(a), rb = m.Reference.EmbedImage(b);
        Assert.Equal(16, za.Embedding.Length);
        Assert.InRange(RelativeError(za.Embedding, ra), 0, 1e-3);
        Assert.InRange(RelativeError(zb.Embedding, rb), 0, 1e-3);
        Assert.Equal(16, za.Image.Resolution);

        // the highest id (90) sits mid-sequence: later positions cannot change the pooled state
        int[] text = [1, 40, 90, 7, 33];
        Assert.Equal(2, m.Reference.PoolingPosition(text));
        var zt = m.Model.EmbedText(text);
        var rt = m.Reference.EmbedText(text);
        Assert.InRange(RelativeError(zt, rt), 0, 1e-3);
        var zt2 = m.Model.EmbedText([3, 4, 5, 6, 60, 61]);
        Assert.InRange(RelativeError(zt2, m.Reference.EmbedText([3, 4, 5, 6, 60, 61])), 0, 1e-3);

        double expected = m.Reference.Similarity(ra, rt);
        Assert.Equal(expected, m.Model.Similarity(za.Embedding, zt), Math.Abs(expected) * 1e-3 + 1e-6);
    }

    [Fact]
    public void EosPoolingTakesTheFirstEosToken()
    {
        using var m = new TinyClip(Spec(eos: 5, seed: 32));
        Assert.Equal(5, m.Model.Manifest.Clip!.PoolingTokenId);
        int[] text = [1, 70, 5, 80, 5];
        Assert.Equal(2, m.Reference.PoolingPosition(text));
        Assert.InRange(RelativeError(m.Model.EmbedText(text), m.Reference.EmbedText(text)), 0, 1e-3);
        // no eos at all pools position 0, as argmax over an all-false mask does
        Assert.InRange(RelativeError(m.Model.EmbedText([9, 8, 7]), m.Reference.EmbedText([9, 8, 7])), 0, 1e-3);
        // other shapes are resized and centre-cropped to the crop size
        var wide = m.Model.EmbedImage(ImageInput.FromRgb(Noise(40, 20, 3), 40, 20));
        Assert.Equal(16, wide.Image.Resolution);
        Assert.Equal(1.0, Math.Sqrt(wide.Embedding.Sum(v => (double)v * v)), 1e-4);
    }

    [Fact]
    public void GenerationIsNotSupported()
    {
        using var m = new TinyClip(Spec(eos: 2, seed: 33));
        Assert.Throws<NotSupportedException>(() => m.Model.Generate([1, 2, 3], new GenerationOptions { MaxNewTokens = 2 }));
        Assert.Throws<NotSupportedException>(() => m.Model.ComputeLogits([1, 2, 3]));
        Assert.Throws<NotSupportedException>(() => m.Model.Generate([1, 2], [ImageInput.FromRgb(Noise(16, 16, 4), 16, 16)]));
        var error = Assert.Throws<NotSupportedException>(() => m.Model.MatmulFlops(1));
        Assert.Contains("EmbedImage", error.Message);
    }
}
