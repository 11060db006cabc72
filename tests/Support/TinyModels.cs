using OpenAutoGlm.Convert;
using OpenAutoGlm.Engine;

namespace OpenAutoGlm.Tests.Support;

/// <summary>A tiny random HF checkpoint converted and loaded, with its independent reference decoder.</summary>
public sealed class TinyModel : IDisposable
{
    private readonly TempDirectory _dir = new();

    public TinyModel(TinyCheckpointSpec spec, ModelOptions? options = null)
    {
        Spec = spec;
        string hf = _dir.Combine("hf"), converted = _dir.Combine("model");
        Tensors = TinyCheckpoint.Write(hf, spec);
        HfConverter.Convert(hf, converted, new ConvertOptions());
        ModelDirectory = converted;
        Model = AutoGlmModel.Load(converted, options ?? new ModelOptions { Threads = 2 });
        bool glm = spec.Architecture.StartsWith("Glm", StringComparison.Ordinal);
        Reference = new ReferenceDecoder(new ReferenceConfig
        {
            Vocab = spec.VocabSize, Hidden = spec.HiddenSize, Intermediate = spec.IntermediateSize, Layers = spec.NumLayers,
            Heads = spec.NumHeads, KvHeads = spec.NumKvHeads, HeadDim = spec.HeadDim ?? spec.HiddenSize / spec.NumHeads,
            RmsEps = spec.RmsNormEps, RopeTheta = spec.RopeTheta, Tied = spec.Tied,
            PartialRotaryFactor = glm ? 0.5 : 1.0, InterleavedRope = glm, FusedGateUp = glm,
            SandwichNorms = spec.Architecture == "Glm4ForCausalLM",
        }, spec.Architecture == TinyCheckpoint.LlavaArchitecture
            ? TinyCheckpoint.TensorShapes(spec with { Architecture = "LlamaForCausalLM" }).ToDictionary(t => t.Name, t => Tensors[TinyCheckpoint.DecoderName(spec, t.Name)])
            : Tensors);
    }

    public TinyCheckpointSpec Spec { get; }
    public IReadOnlyDictionary<string, float[]> Tensors { get; }
    public string ModelDirectory { get; }
    public AutoGlmModel Model { get; }
    public ReferenceDecoder Reference { get; }

    /// <summary>The reference of the vision encoder, fusion and heads (open_autoglm checkpoints).</summary>
    public ReferenceMultimodal Multimodal => new(Spec, Tensors, Reference);

    /// <summary>max |engine − reference| / max |reference| over every logit.</summary>
    public static double RelativeError(float[] engine, double[][] reference)
    {
        double maxDiff = 0, maxRef = 0;
        int v = reference[0].Length;
        for (int t = 0; t < reference.Length; t++)
            for (int i = 0; i < v; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(engine[t * v + i] - reference[t][i]));
                maxRef = Math.Max(maxRef, Math.Abs(reference[t][i]));
            }
        return maxDiff / maxRef;
    }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}
