using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Weights;

public class HugePageWeightsTests
{
    [Fact]
    public unsafe void HugePageWeightsHoldTheSameBytesAndGiveTheSameTokens()
    {
        using var tiny = new TinyModel(new TinyCheckpointSpec { Seed = 31 });
        using var mapped = ModelFile.Open(tiny.ModelDirectory);
        using var huge = ModelFile.Open(tiny.ModelDirectory, residency: WeightResidency.HugePages);
        Assert.Equal(WeightResidency.Mapped, mapped.Residency);
        bool expectHuge = OperatingSystem.IsLinux() && File.Exists("/sys/kernel/mm/transparent_hugepage/enabled")
            && !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal);
        Assert.Equal(expectHuge ? WeightResidency.HugePages : WeightResidency.Mapped, huge.Residency);
        foreach (var t in mapped.Manifest.Tensors)
        {
            var expected = new ReadOnlySpan<byte>((void*)mapped.GetPointer(t.Name), checked((int)t.Length));
            var actual = new ReadOnlySpan<byte>((void*)huge.GetPointer(t.Name), checked((int)t.Length));
            Assert.True(expected.SequenceEqual(actual), t.Name);
        }
        huge.VerifyChecksums();

        var prompt = new[] { 1, 5, 9, 2 };
        var options = new GenerationOptions { MaxNewTokens = 6, StopAtEndOfSequence = false };
        using var a = AutoGlmModel.Load(tiny.ModelDirectory, new ModelOptions { Threads = 2 });
        using var b = AutoGlmModel.Load(tiny.ModelDirectory, new ModelOptions { Threads = 2, Weights = WeightResidency.HugePages });
        Assert.Equal(a.Generate(prompt, options).Ids, b.Generate(prompt, options).Ids);
        b.Dispose();
        b.Dispose(); // idempotent: the region is freed once
    }
}
