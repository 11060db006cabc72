using OpenAutoGlm.Cli.Evaluation;

namespace OpenAutoGlm.Tests.Evaluation;

public class EvalScoringTests
{
    [Theory]
    [InlineData("Red", "red", true)]
    [InlineData(" top left. ", "top left", true)]
    [InlineData("top", "top left", false)]
    [InlineData("3", "three", false)]
    public void ExactMatchIgnoresCaseSpacesAndAFinalPeriod(string predicted, string expected, bool match) =>
        Assert.Equal(match, EvalScoring.ExactMatch(predicted, expected));

    [Theory]
    // identical word multisets, order ignored
    [InlineData("a red circle", "circle a red", 1.0)]
    // 2 of 3 predicted words appear in 4 reference words: P 2/3, R 2/4, F1 = 2·(2/3)(1/2)/(2/3 + 1/2) = 4/7
    [InlineData("a red star", "a red circle there", 4.0 / 7)]
    // a repeated word counts only as often as the reference has it: P 1/2, R 1/1, F1 2/3
    [InlineData("the the", "the", 2.0 / 3)]
    [InlineData("blue", "red", 0.0)]
    [InlineData("", "", 1.0)]
    [InlineData("", "red", 0.0)]
    // punctuation separates words: "status: fail." is the words status, fail
    [InlineData("scratch at the top. status: fail", "scratch at the top status fail", 1.0)]
    public void TokenF1IsTheHarmonicMeanOfWordPrecisionAndRecall(string predicted, string expected, double f1) =>
        Assert.Equal(f1, EvalScoring.TokenF1(predicted, expected), 12);

    [Theory]
    [InlineData("yes", true)]
    [InlineData("Yes.", true)]
    [InlineData("no", false)]
    [InlineData("none", false)]
    [InlineData("scratch at the top left. status: fail", true)]
    [InlineData("no defect found. status: pass", false)]
    [InlineData("no defect found", false)]
    [InlineData("dent at the center", null)]
    [InlineData("", null)]
    public void ParseDefectReadsReportsAndYesNo(string answer, bool? defective) =>
        Assert.Equal(defective, EvalScoring.ParseDefect(answer));

    [Fact]
    public void ChartSummariesParseAndScoreFieldByField()
    {
        var truth = EvalScoring.ParseChartSummary("""{"chart_type": "line", "max_label": "apr", "trend": "up"}""")!;
        Assert.Equal(new ChartSummary("line", "apr", "up"), truth);

        Assert.Equal(3, EvalScoring.ChartFieldsCorrect(EvalScoring.ParseChartSummary("""{"trend":"up","chart_type":"line","max_label":"apr"}"""), truth));
        Assert.Equal(2, EvalScoring.ChartFieldsCorrect(EvalScoring.ParseChartSummary("""{"chart_type": "line", "max_label": "may", "trend": "up"}"""), truth));
        // a missing field or one that is not a string is wrong, the others still count
        Assert.Equal(1, EvalScoring.ChartFieldsCorrect(EvalScoring.ParseChartSummary("""{"chart_type": "line", "max_label": 4}"""), truth));

        Assert.Null(EvalScoring.ParseChartSummary("""{"chart_type": "line", "max_label": "apr", "trend": "up" """));
        Assert.Null(EvalScoring.ParseChartSummary("""["line", "apr", "up"]"""));
        Assert.Null(EvalScoring.ParseChartSummary("a line chart"));
        Assert.Equal(0, EvalScoring.ChartFieldsCorrect(null, truth));
    }

    [Fact]
    public void RecallAtKCountsQueriesWithAPositiveAmongTheTopK()
    {
        // query q's only positive is gallery item q
        float[][] scores =
        [
            [0.9f, 0.1f, 0.2f, 0.0f], // positive ranked 1st
            [0.8f, 0.7f, 0.1f, 0.0f], // 2nd
            [0.5f, 0.6f, 0.4f, 0.7f], // 4th
        ];
        bool Positive(int q, int g) => q == g;
        Assert.Equal(1.0 / 3, EvalScoring.RecallAtK(scores, Positive, 1), 12);
        Assert.Equal(2.0 / 3, EvalScoring.RecallAtK(scores, Positive, 2), 12);
        Assert.Equal(2.0 / 3, EvalScoring.RecallAtK(scores, Positive, 3), 12);
        Assert.Equal(1.0, EvalScoring.RecallAtK(scores, Positive, 5), 12);
        // several positives (identical descriptions): any one of them in the top k is a hit
        Assert.Equal(2.0 / 3, EvalScoring.RecallAtK(scores, (q, g) => g == q || g == 3, 1), 12);
    }

    [Fact]
    public void RecallAtKBreaksTiesByGalleryOrder()
    {
        float[][] scores = [[0.5f, 0.5f]];
        Assert.Equal(1.0, EvalScoring.RecallAtK(scores, (_, g) => g == 0, 1));
        Assert.Equal(0.0, EvalScoring.RecallAtK(scores, (_, g) => g == 1, 1));
    }
}
