using OpenAutoGlm.Engine.Serving;

namespace OpenAutoGlm.Tests.Serving;

public sealed class PagedKvCacheTests
{
    private static PagedKvCache Cache(int blocks) => new(layers: 1, kvHeads: 1, headDim: 2, blockSize: 2, blockCount: blocks);

    [Fact]
    public void BlocksAreCountedThroughAllocateAndRelease()
    {
        var cache = Cache(3);
        Assert.True(cache.TryAllocate(out int a));
        Assert.True(cache.TryAllocate(out int b));
        Assert.True(cache.TryAllocate(out _));
        Assert.False(cache.TryAllocate(out _));
        Assert.Equal(3, cache.UsedBlocks);
        cache.Release(a);
        Assert.Equal(2, cache.UsedBlocks);
        Assert.Equal(0, cache.CachedBlocks); // unpublished: straight back to the free list
        Assert.True(cache.TryAllocate(out int again));
        Assert.Equal(a, again);
        cache.Release(b);
        Assert.Throws<InvalidOperationException>(() => cache.Release(b));
    }

    [Fact]
    public void PublishedPrefixesAreSharedByReferenceAndEvictedLeastRecentlyReleasedFirst()
    {
        var cache = Cache(3);
        int[] tokens = [7, 8, 9, 10, 11];
        cache.TryAllocate(out int first);
        cache.TryAllocate(out int second);
        ulong h = cache.Publish(first, PagedKvCache.RootHash, tokens.AsSpan(0, 2));
        cache.Publish(second, h, tokens.AsSpan(2, 2));

        var table = new List<int>();
        Assert.Equal(2, cache.AcquirePrefix(tokens, 2, table, out _));
        Assert.Equal([first, second], table);
        Assert.Equal(2, cache.ReferenceCount(first));

        // A different first block shares nothing, even though its second block's tokens match.
        Assert.Equal(0, cache.AcquirePrefix([7, 0, 9, 10], 2, new List<int>(), out _));

        foreach (int block in table) cache.Release(block);
        cache.Release(second);
        cache.Release(first);
        Assert.Equal(2, cache.CachedBlocks);
        Assert.Equal(3, cache.AvailableBlocks);

        // The free block goes first, then the least recently released cached one (second), which loses its entry.
        Assert.True(cache.TryAllocate(out int free));
        Assert.NotEqual(first, free);
        Assert.NotEqual(second, free);
        Assert.True(cache.TryAllocate(out int evicted));
        Assert.Equal(second, evicted);
        var reuse = new List<int>();
        Assert.Equal(1, cache.AcquirePrefix(tokens, 2, reuse, out _));
        Assert.Equal([first], reuse);
    }
}
