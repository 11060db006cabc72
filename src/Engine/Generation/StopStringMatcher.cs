using System.Text;

namespace OpenAutoGlm.Engine.Generation;

/// <summary>Releases streamed text while holding back any tail that could still become a stop string.</summary>
internal sealed class StopStringMatcher(IReadOnlyList<string> stops)
{
    private readonly StringBuilder _pending = new();

    /// <summary>Appends <paramref name="delta"/>; returns true when a stop string completed (text is cut before it).</summary>
    public bool Push(string delta, StringBuilder text, out string released)
    {
        if (stops.Count == 0) { text.Append(delta); released = delta; return false; }
        _pending.Append(delta);
        string p = _pending.ToString();
        int cut = -1;
        foreach (var s in stops)
        {
            int i = p.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (cut < 0 || i < cut)) cut = i;
        }
        if (cut >= 0)
        {
            released = p[..cut];
            text.Append(released);
            _pending.Clear();
            return true;
        }
        int hold = 0;
        foreach (var s in stops)
            for (int len = Math.Min(s.Length - 1, p.Length); len > hold; len--)
                if (p.AsSpan(p.Length - len).SequenceEqual(s.AsSpan(0, len))) { hold = len; break; }
        released = p[..(p.Length - hold)];
        text.Append(released);
        _pending.Remove(0, released.Length);
        return false;
    }

    /// <summary>End of generation: everything still held back is text.</summary>
    public string Finish(string flushed, StringBuilder text)
    {
        _pending.Append(flushed);
        string rest = _pending.ToString();
        foreach (var s in stops)
        {
            int i = rest.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0) rest = rest[..i];
        }
        text.Append(rest);
        _pending.Clear();
        return rest;
    }
}
