using System.Text.Json;
using System.Text.RegularExpressions;

namespace OpenAutoGlm.Cli.Evaluation;

/// <summary>The three fields of a chart's JSON summary; a field is null when missing or not a string.</summary>
internal sealed record ChartSummary(string? ChartType, string? MaxLabel, string? Trend);

/// <summary>How one answer of the evaluation set is scored against the reference answer.</summary>
internal static partial class EvalScoring
{
    [GeneratedRegex("[a-z0-9]+")]
    private static partial Regex Word();

    /// <summary>Lower case, trimmed, one final period dropped: the world's short answers never end in a period.</summary>
    public static string NormalizeAnswer(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        return s.EndsWith('.') ? s[..^1].TrimEnd() : s;
    }

    public static bool ExactMatch(string predicted, string expected) => NormalizeAnswer(predicted) == NormalizeAnswer(expected);

    /// <summary>Lower-case runs of letters and digits; punctuation separates words.</summary>
    public static string[] Words(string text) => Word().Matches(text.ToLowerInvariant()).Select(m => m.Value).ToArray();

    /// <summary>SQuAD-style F1 of the word multisets: 2PR/(P+R); 1 when both are empty, 0 when only one is.</summary>
    public static double TokenF1(string predicted, string expected)
    {
        var p = Words(predicted);
        var e = Words(expected);
        if (p.Length == 0 || e.Length == 0) return p.Length == e.Length ? 1 : 0;
        var left = e.GroupBy(w => w).ToDictionary(g => g.Key, g => g.Count());
        int common = 0;
        foreach (var w in p)
            if (left.TryGetValue(w, out int n) && n > 0) { left[w] = n - 1; common++; }
        if (common == 0) return 0;
        double precision = (double)common / p.Length, recall = (double)common / e.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>
    /// Whether an inspection answer says the part is defective: "status: fail"/"status: pass" of a report, else a leading
    /// yes / no / none; null when the answer says neither.
    /// </summary>
    public static bool? ParseDefect(string answer)
    {
        var s = NormalizeAnswer(answer);
        if (s.Contains("status: fail", StringComparison.Ordinal)) return true;
        if (s.Contains("status: pass", StringComparison.Ordinal)) return false;
        var words = Words(s);
        if (words.Length == 0) return null;
        return words[0] switch { "yes" => true, "no" or "none" => false, _ => null };
    }

    /// <summary>The summary a chart_json answer holds; null when the text is not one JSON object.</summary>
    public static ChartSummary? ParseChartSummary(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
            string? Field(string name) =>
                doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            return new ChartSummary(Field("chart_type"), Field("max_label"), Field("trend"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>How many of chart_type, max_label and trend the prediction gets right (0 when it is not valid JSON).</summary>
    public static int ChartFieldsCorrect(ChartSummary? predicted, ChartSummary expected)
    {
        if (predicted is null) return 0;
        return (predicted.ChartType is not null && predicted.ChartType == expected.ChartType ? 1 : 0)
             + (predicted.MaxLabel is not null && predicted.MaxLabel == expected.MaxLabel ? 1 : 0)
             + (predicted.Trend is not null && predicted.Trend == expected.Trend ? 1 : 0);
    }

    /// <summary>
    /// Text-to-image Recall@k: the fraction of queries with a positive among the k best-scored gallery items.
    /// <paramref name="scores"/>[q][g] scores query q against gallery item g; <paramref name="positive"/>(q, g) says whether g
    /// matches q. Ties rank the lower gallery index first.
    /// </summary>
    public static double RecallAtK(float[][] scores, Func<int, int, bool> positive, int k)
    {
        if (scores.Length == 0) throw new ArgumentException("No queries.", nameof(scores));
        int hits = 0;
        for (int q = 0; q < scores.Length; q++)
        {
            var row = scores[q];
            var ranked = Enumerable.Range(0, row.Length).OrderByDescending(g => row[g]).ThenBy(g => g).Take(k);
            if (ranked.Any(g => positive(q, g))) hits++;
        }
        return (double)hits / scores.Length;
    }
}
