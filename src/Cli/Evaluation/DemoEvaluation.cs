using System.Diagnostics;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;

namespace OpenAutoGlm.Cli.Evaluation;

/// <summary>A mean over the examples a metric applies to; null when none did.</summary>
internal sealed class Mean
{
    private double _sum;
    public int Count { get; private set; }
    public void Add(double value) { _sum += value; Count++; }
    public void Add(bool value) => Add(value ? 1.0 : 0.0);
    public double? Value => Count == 0 ? null : _sum / Count;
}

/// <summary>One reported number: its JSON key, what it measures, its value (null when no example applied) and over how many examples.</summary>
internal sealed record EvalMetric(string Key, string Label, double? Value, int Count);

/// <summary>The scores of a model on an evaluation set, in report order.</summary>
internal sealed record EvalReport(IReadOnlyList<EvalMetric> Metrics)
{
    public double? this[string key] => Metrics.Single(m => m.Key == key).Value;
}

/// <summary>The answers given to one example: with the image, and for VQA also without it and at the pinned resolution.</summary>
internal sealed record EvalAnswer(int Index, EvalItem Item, string Answer, string? NoImage, string? FixedResolution);

/// <summary>
/// Scores an open_autoglm model on an evaluation set written by tools/demo-model/make_eval.py. Every answer is decoded greedily
/// with the max_new_tokens of the set's instruction class, so a run is deterministic and compares models, not sampling luck.
/// </summary>
internal sealed class DemoEvaluation(AutoGlmModel model)
{
    /// <summary>The prompt template the demo model was trained on (tools/demo-model/infer.py); the tokenizer adds &lt;|bos|&gt;.</summary>
    public const string PromptTemplate = "<|user|>{0}<|assistant|>";
    /// <summary>Retrieval ranks at most this many images: large enough to be hard, small enough to embed quickly.</summary>
    public const int MaxGallery = 200;
    /// <summary>For a class without a max_new_tokens preset; the longest reference answer (a caption) needs ~40 tokens.</summary>
    private const int FallbackMaxNewTokens = 48;

    public static int[] PromptIds(AutoGlmModel model, string question) => model.Encode(string.Format(PromptTemplate, question));

    /// <summary>Inspection tasks whose reference says whether the part is defective: the yes/no question and the report.</summary>
    public static bool IsDefectTask(EvalItem item) => item.Kind == "plate" && item.Task is "has_defect" or "report";

    public EvalReport Run(IReadOnlyList<EvalItem> items, Action<string>? progress = null, Action<EvalAnswer>? answered = null)
    {
        var mm = model.Manifest.Multimodal ?? throw new InvalidOperationException($"eval needs an open_autoglm model; this one is {model.Manifest.Architecture}.");
        int fixedResolution = mm.AdaptiveResolution.Sizes.Max();
        Mean vqa = new(), captionExact = new(), captionF1 = new(), defect = new(), jsonValid = new(), chartFields = new(),
             instruction = new(), vqaNoImage = new(), vqaFixed = new();
        long generatedTokens = 0;
        var generationTime = new Stopwatch();

        for (int i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var ids = PromptIds(model, item.Question);
            instruction.Add(model.ClassifyInstruction(ids)?.TaskClass == item.Instruction);

            var options = new GenerationOptions { MaxNewTokens = MaxNewTokens(item.Instruction) };
            var image = new[] { ImageInput.FromFile(item.ImagePath) };
            generationTime.Start();
            var answer = Answer(ids, image, options, resolution: null);
            generationTime.Stop();
            generatedTokens += answer.Ids.Length;

            string? noImage = null, fixedAnswer = null;
            switch (item.Instruction)
            {
                case "vqa":
                    noImage = Answer(ids, [], options, null).Text;
                    fixedAnswer = Answer(ids, image, options, fixedResolution).Text;
                    vqa.Add(EvalScoring.ExactMatch(answer.Text, item.Answer));
                    vqaNoImage.Add(EvalScoring.ExactMatch(noImage, item.Answer));
                    vqaFixed.Add(EvalScoring.ExactMatch(fixedAnswer, item.Answer));
                    break;
                case "caption":
                    captionExact.Add(EvalScoring.ExactMatch(answer.Text, item.Answer));
                    captionF1.Add(EvalScoring.TokenF1(answer.Text, item.Answer));
                    break;
                case "chart_json":
                    var predicted = EvalScoring.ParseChartSummary(answer.Text);
                    jsonValid.Add(predicted is not null);
                    chartFields.Add(EvalScoring.ChartFieldsCorrect(predicted, EvalScoring.ParseChartSummary(item.Answer)!) / 3.0);
                    break;
            }
            if (IsDefectTask(item))
                defect.Add(EvalScoring.ParseDefect(answer.Text) is { } said && said == EvalScoring.ParseDefect(item.Answer));
            answered?.Invoke(new EvalAnswer(i, item, answer.Text, noImage, fixedAnswer));
            progress?.Invoke($"{i + 1}/{items.Count}");
        }

        var (r1, r5, galleryCount) = Retrieval(items.Take(MaxGallery).ToArray());
        double seconds = generationTime.Elapsed.TotalSeconds;
        return new EvalReport(
        [
            Metric("vqa_accuracy", "VQA exact match", vqa),
            Metric("caption_exact", "caption exact match", captionExact),
            Metric("caption_token_f1", "caption token F1", captionF1),
            Metric("defect_accuracy", "defect yes/no (pass/fail) accuracy", defect),
            Metric("json_valid_rate", "chart JSON valid rate", jsonValid),
            Metric("chart_field_accuracy", "chart JSON field accuracy", chartFields),
            new("retrieval_r1", "retrieval Recall@1 (text to image)", r1, galleryCount),
            new("retrieval_r5", "retrieval Recall@5 (text to image)", r5, galleryCount),
            Metric("instruction_accuracy", "instruction class accuracy", instruction),
            Metric("vqa_accuracy_no_image", "VQA exact match, images removed", vqaNoImage),
            Metric("vqa_accuracy_fixed_resolution", $"VQA exact match, every image at R={fixedResolution}", vqaFixed),
            new("tokens_per_s", "generated tokens/s (vision + prefill + decode)", seconds > 0 ? generatedTokens / seconds : null, (int)generatedTokens),
        ]);
    }

    private static EvalMetric Metric(string key, string label, Mean mean) => new(key, label, mean.Value, mean.Count);

    private int MaxNewTokens(string instructionClass) =>
        model.Manifest.Multimodal!.DecodingPresets.TryGetValue(instructionClass, out var preset) && preset.MaxNewTokens is { } n ? n : FallbackMaxNewTokens;

    private GenerationResult Answer(int[] ids, ImageInput[] images, GenerationOptions options, int? resolution) =>
        model.Generate(ids, images, options, new ImageRequestOptions { UseDecodingPreset = false, Resolution = resolution }).Generation;

    /// <summary>Recall@1 and @5 of each distinct description against the gallery's images; identical descriptions are all positives.</summary>
    private (double? R1, double? R5, int Queries) Retrieval(EvalItem[] gallery)
    {
        if (gallery.Length == 0) return (null, null, 0);
        var images = gallery.Select(g => model.EmbedImage(ImageInput.FromFile(g.ImagePath)).Embedding).ToArray();
        var queries = gallery.Select(g => g.Description).Distinct(StringComparer.Ordinal).ToArray();
        var scores = queries.Select(q =>
        {
            var text = model.EmbedText(q);
            return images.Select(img => model.Similarity(img, text)).ToArray();
        }).ToArray();
        bool Positive(int q, int g) => gallery[g].Description == queries[q];
        return (EvalScoring.RecallAtK(scores, Positive, 1), EvalScoring.RecallAtK(scores, Positive, 5), queries.Length);
    }
}
