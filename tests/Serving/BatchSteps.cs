using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Serving;

namespace OpenAutoGlm.Tests.Serving;

/// <summary>Driving a <see cref="BatchEngine"/> step by step in tests, and reading requests it has finished.</summary>
internal static class BatchSteps
{
    public static void RunToEnd(BatchEngine engine)
    {
        for (int guard = 0; engine.Step(); guard++) Assert.True(guard < 10_000, "the engine does not finish");
    }

    /// <summary>The result of a request that has finished (the engine completes results synchronously within Step).</summary>
    public static GenerationResult Finished(BatchRequest r)
    {
        Assert.True(r.Result.IsCompletedSuccessfully);
        return r.Result.Result;
    }

    public static int[] Ids(BatchRequest r) => Finished(r).Ids;
}
