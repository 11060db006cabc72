using Xunit;
using System.Text.Json.Nodes;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Weights;

public class SafetensorsCheckpointTests
{
    [Fact]
    public void ShardedCheckpointExposesTheUnionOfItsShards()
    {
        using var dir = new TempDirectory();
        var expected = TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec { Sharded = true, DType = SafetensorsDType.BF16 });
        using var checkpoint = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Equal(2, checkpoint.Files.Count);
        Assert.Equal(expected.Keys.Order(), checkpoint.Tensors.Keys.Order());
        foreach (var (name, values) in expected)
            Assert.Equal(values, checkpoint.ReadAsSingle(name));
    }

    [Fact]
    public void SingleFileCheckpointIsOpened()
    {
        using var dir = new TempDirectory();
        var expected = TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec());
        using var checkpoint = SafetensorsCheckpoint.Open(dir.Path);
        Assert.Single(checkpoint.Files);
        Assert.Equal(expected["model.norm.weight"], checkpoint.ReadAsSingle("model.norm.weight"));
    }

    [Fact]
    public void EmptyDirectoryIsReported()
    {
        using var dir = new TempDirectory();
        Assert.Contains("neither model.safetensors", Assert.Throws<InvalidModelException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
    }

    private static void EditIndex(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, SafetensorsCheckpoint.IndexFileName);
        var index = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(index["weight_map"]!.AsObject());
        File.WriteAllText(path, index.ToJsonString());
    }

    [Theory]
    [InlineData("../model-00001-of-00002.safetensors")]
    [InlineData("/etc/passwd")]
    [InlineData("sub\\x.safetensors")]
    public void ShardNamesMayNotLeaveTheDirectory(string shard)
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec { Sharded = true });
        EditIndex(dir.Path, map => map["model.norm.weight"] = shard);
        Assert.Contains("not a plain file name", Assert.Throws<InvalidModelException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
    }

    [Fact]
    public void TensorListedButAbsentIsReported()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec { Sharded = true });
        EditIndex(dir.Path, map => map["model.extra.weight"] = "model-00001-of-00002.safetensors");
        Assert.Contains("model.extra.weight", Assert.Throws<InvalidModelException>(() => SafetensorsCheckpoint.Open(dir.Path)).Message);
    }

    [Fact]
    public void TensorInTheWrongShardIsReported()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec { Sharded = true });
        EditIndex(dir.Path, map => map["model.norm.weight"] = "model-00001-of-00002.safetensors");
        var e = Assert.Throws<InvalidModelException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("model.norm.weight", e.Message);
    }

    [Fact]
    public void TensorStoredInTwoShardsIsReported()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec { Sharded = true });
        SafetensorsWriter.Write(Path.Combine(dir.Path, "model-00002-of-00002.safetensors"),
            [SafetensorsEntry.FromSingle("model.embed_tokens.weight", [1], [1f], SafetensorsDType.F32)]);
        var e = Assert.Throws<InvalidModelException>(() => SafetensorsCheckpoint.Open(dir.Path));
        Assert.Contains("model.embed_tokens.weight", e.Message);
    }
}
