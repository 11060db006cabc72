using Xunit;
using System.Text.Json.Nodes;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Weights;

public class ModelFileTests
{
    private static ModelManifest SmallManifest() => new()
    {
        Architecture = Architectures.Qwen2,
        Text = new TextConfig
        {
            VocabSize = 11, HiddenSize = 8, IntermediateSize = 6, NumLayers = 1, NumHeads = 2, NumKvHeads = 1,
            HeadDim = 4, RotaryDim = 4, QkvBias = true,
        },
        Tokens = new SpecialTokens { Bos = 1, Eos = [2] },
    };

    /// <summary>Writes every required tensor with value = element index + tensor number / 8, so each is recognisable.</summary>
    private static ModelManifest WriteModel(string dir)
    {
        var manifest = SmallManifest();
        using var writer = new ModelWriter(dir);
        int number = 0;
        foreach (var spec in TensorLayout.Required(manifest.Text))
        {
            var values = Enumerable.Range(0, (int)TensorShape.ElementCount(spec.Shape, spec.Name)).Select(i => i + number / 8f).ToArray();
            if (spec.DType == TensorDTypes.F16) writer.Add(spec.Name, spec.Shape, values.Select(v => (Half)v).ToArray());
            else writer.Add(spec.Name, spec.Shape, values);
            number++;
        }
        return writer.Finish(manifest, tokenizerSource: null);
    }

    [Fact]
    public void WrittenModelOpensWithAlignedTensorsAndSpansIntoTheMapping()
    {
        using var dir = new TempDirectory();
        WriteModel(dir.Path);
        using var model = ModelFile.Open(dir.Path, verifyChecksums: true);
        Assert.Equal(dir.Path, model.Directory);
        Assert.All(model.Manifest.Tensors, t => Assert.Equal(0, t.Offset % ModelManifest.DefaultAlignment));

        var embedding = model.GetHalf(TensorNames.TokenEmbedding);
        Assert.Equal(11 * 8, embedding.Length);
        Assert.Equal((Half)5f, embedding[5]);
        var norm = model.GetSingle(TensorNames.AttnNorm(0));
        Assert.Equal(8, norm.Length);
        Assert.Equal(3f + 1 / 8f, norm[3]);
        Assert.Equal(model.GetPointer(TensorNames.AttnNorm(0)), model.GetPointer(TensorNames.AttnNorm(0)));
        Assert.Throws<InvalidOperationException>(() => model.GetSingle(TensorNames.TokenEmbedding).Length);
        Assert.Throws<KeyNotFoundException>(() => model.GetHalf("nope").Length);
    }

    [Fact]
    public void DisposeIsIdempotentAndEndsAccess()
    {
        using var dir = new TempDirectory();
        WriteModel(dir.Path);
        var model = ModelFile.Open(dir.Path);
        model.Dispose();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.GetHalf(TensorNames.TokenEmbedding).Length);
    }

    [Fact]
    public void TruncatedWeightsFileIsRejected()
    {
        using var dir = new TempDirectory();
        WriteModel(dir.Path);
        string weights = Path.Combine(dir.Path, ModelManifest.DefaultWeightsFile);
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..^4]);
        var e = Assert.Throws<InvalidModelException>(() => ModelFile.Open(dir.Path));
        Assert.Contains("beyond the end", e.Message);
        Assert.Contains($"'{TensorNames.Output}'", e.Message);
    }

    [Fact]
    public void EmptyWeightsFileIsRejected()
    {
        using var dir = new TempDirectory();
        WriteModel(dir.Path);
        File.WriteAllBytes(Path.Combine(dir.Path, ModelManifest.DefaultWeightsFile), []);
        Assert.Contains("empty", Assert.Throws<InvalidModelException>(() => ModelFile.Open(dir.Path)).Message);
    }

    public static TheoryData<string, string> Tampering => new()
    {
        { "format_version=2", "format version 2" },
        { "architecture=gpt9", "unknown architecture 'gpt9'" },
        { "text.num_kv_heads=3", "not a multiple of num_kv_heads" },
        { "text.rotary_dim=3", "rotary_dim 3" },
        { "text.head_dim=0", "head_dim is 0" },
        { "text.hidden_size=-8", "hidden_size is -8" },
        { "text.rope_layout=spiral", "unknown rope_layout" },
        { "tokens.bos=11", "outside the vocabulary" },
        { "tensors.0.shape=[11,9]", "needs 198 bytes" },
        { "tensors.0.length=0", "length 0" },
        { "tensors.0.dtype=BF16", "dtype BF16" },
        { "tensors.1.offset=1", "not a non-negative multiple of 64" },
        { "tensors.1.offset=0", "overlap" },
        { "tensors.0.checksum=xyz", "checksum 'xyz'" },
        { "tensors.0.name=token_embd_renamed", "token_embd missing" },
        { "weights_file=../weights.bin", "not a plain file name" },
        { "tokenizer_file=tokenizer.json", "tokenizer file 'tokenizer.json' is missing" },
    };

    [Theory]
    [MemberData(nameof(Tampering))]
    public void TamperedManifestIsRejected(string edit, string problem)
    {
        using var dir = new TempDirectory();
        WriteModel(dir.Path);
        string path = Path.Combine(dir.Path, ModelManifest.FileName);
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        var (target, value) = (edit[..edit.IndexOf('=')], edit[(edit.IndexOf('=') + 1)..]);
        var keys = target.Split('.');
        JsonNode node = root;
        foreach (var key in keys[..^1]) node = int.TryParse(key, out int i) ? node[i]! : node[key]!;
        node[keys[^1]] = JsonNode.Parse(value.StartsWith('[') || double.TryParse(value, out _) ? value : $"\"{value}\"");
        File.WriteAllText(path, root.ToJsonString());

        var e = Assert.Throws<InvalidModelException>(() => ModelFile.Open(dir.Path));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void ManifestThatIsNotJsonIsRejected()
    {
        using var dir = new TempDirectory();
        WriteModel(dir.Path);
        File.WriteAllText(Path.Combine(dir.Path, ModelManifest.FileName), "{ not json");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidModelException>(() => ModelFile.Open(dir.Path)).Message);
    }

    [Fact]
    public void MissingManifestIsReported()
    {
        using var dir = new TempDirectory();
        Assert.Contains("not found", Assert.Throws<InvalidModelException>(() => ModelFile.Open(dir.Path)).Message);
    }

    [Fact]
    public void ChecksumVerificationFindsAFlippedByte()
    {
        using var dir = new TempDirectory();
        var manifest = WriteModel(dir.Path);
        var target = manifest.FindTensor(TensorNames.FfnDown(0))!;
        string weights = Path.Combine(dir.Path, ModelManifest.DefaultWeightsFile);
        var bytes = File.ReadAllBytes(weights);
        bytes[target.Offset + 3] ^= 0x10;
        File.WriteAllBytes(weights, bytes);

        using (var model = ModelFile.Open(dir.Path))
        {
            var e = Assert.Throws<InvalidModelException>(model.VerifyChecksums);
            Assert.Contains(TensorNames.FfnDown(0), e.Message);
            Assert.DoesNotContain(TensorNames.TokenEmbedding + " ", e.Message);
        }
        Assert.Throws<InvalidModelException>(() => ModelFile.Open(dir.Path, verifyChecksums: true));
    }

    [Fact]
    public void WriterRejectsWrongLengthsAndDuplicates()
    {
        using var dir = new TempDirectory();
        using var writer = new ModelWriter(dir.Path);
        writer.BeginTensor("a", TensorDTypes.F32, [2]);
        writer.Append([1f]);
        Assert.Throws<InvalidOperationException>(writer.EndTensor);
        writer.Append([2f]);
        Assert.Throws<InvalidOperationException>(() => writer.Append([3f]));
        writer.EndTensor();
        Assert.Throws<ArgumentException>(() => writer.BeginTensor("a", TensorDTypes.F32, [1]));
        Assert.Throws<ArgumentException>(() => writer.BeginTensor("b", "Q4", [1]));
        writer.BeginTensor("c", TensorDTypes.F16, [1]);
        Assert.Throws<InvalidOperationException>(() => writer.Append([1f]));
    }
}
