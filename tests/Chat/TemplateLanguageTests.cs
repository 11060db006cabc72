using System.Text.Json;
using OpenAutoGlm.Engine.Chat;
using Xunit;

namespace OpenAutoGlm.Tests.Chat;

/// <summary>The Jinja subset: expressions, statements, filters, whitespace control and error positions.</summary>
public sealed class TemplateLanguageTests
{
    private static string Render(string template, IReadOnlyDictionary<string, object?>? extra = null, params ChatMessage[] messages) =>
        ChatTemplate.Parse(template).Render(messages, false, extra);

    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ 7 // 2 }}|{{ 7 / 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}", "3|3.5|2|1024")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true }}", "a1NoneTrue")]
    [InlineData("{{ [1, 'x', none] }}|{{ {'k': 1.0} }}", "[1, 'x', None]|{'k': 1.0}")]
    [InlineData("{{ 'yes' if 1 < 2 < 3 else 'no' }}{{ 'a' if false }}", "yes")]
    [InlineData("{{ 'b' in 'abc' }}{{ 'z' not in ['a'] }}{{ 'k' in {'k': 0} }}", "TrueTrueTrue")]
    [InlineData("{{ not none and (0 or 'x') }}", "x")]
    [InlineData("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is not string }}", "FalseTrueTrueTrueTrueTrueTrue")]
    [InlineData("{{ '  a b  ' | trim | upper }}|{{ 'AbC' | lower }}|{{ [3, 4] | length }}|{{ 'abc' | first }}{{ [1, 2] | last }}", "A B|abc|2|a2")]
    [InlineData("{{ x | default('d') }}{{ '' | default('e', true) }}{{ 0 | string }}", "de0")]
    [InlineData("{{ ['a', 'b'] | join(', ') }}|{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}", "a, b|a=1;b=2;")]
    [InlineData("{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}{{ {'a': 1}.get('b', 'none') }}", "a1none")]
    [InlineData("{{ 'hello'.startswith('he') }}{{ 'hello'.endswith(('x', 'lo')) }}{{ ' x '.strip() }}{{ 'a,b'.split(',') }}{{ 'a b'.split() }}{{ 'aXa'.replace('a', 'b') }}", "TrueTruex['a', 'b']['a', 'b']bXb")]
    [InlineData("{{ [1, 2, 3, 4][1:] }}{{ [1, 2, 3][::-1] }}{{ 'abc'[-1] }}{{ [1, 2][5] is defined }}", "[2, 3, 4][3, 2, 1]cFalse")]
    [InlineData("{{ {'a': [1, 2.5, 'é\"x'], 'b': none, 'c': true} | tojson }}", "{\"a\": [1, 2.5, \"é\\\"x\"], \"b\": null, \"c\": true}")]
    [InlineData("{{ {'a': [1]} | tojson(indent=2) }}", "{\n  \"a\": [\n    1\n  ]\n}")]
    [InlineData("{% set a, b = 1, 2 %}{{ a + b }}{% set s %}in{{ a }}{% endset %}{{ s }}", "3in1")]
    [InlineData("{# comment #}x{#- trimmed -#}  y", "xy")]
    [InlineData("{{ [1, 2, 3] | select('odd') | list }}{{ [{'r': 'a'}, {'r': 'b'}] | selectattr('r', 'equalto', 'b') | map(attribute='r') | list }}", "[1, 3]['b']")]
    [InlineData("{{ range(3) }}{{ range(1, 7, 2) | list }}", "[0, 1, 2][1, 3, 5]")]
    public void Expressions(string template, string expected) => Assert.Equal(expected, Render(template));

    [Fact]
    public void LoopVariablesAndControl()
    {
        Assert.Equal("0:1:True:False:3|1:2:False:False:3|2:3:False:True:3|",
            Render("{% for x in ['a', 'b', 'c'] %}{{ loop.index0 }}:{{ loop.index }}:{{ loop.first }}:{{ loop.last }}:{{ loop.length }}|{% endfor %}"));
        Assert.Equal("13", Render("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"));
        Assert.Equal("empty", Render("{% for x in [] %}{{ x }}{% else %}empty{% endfor %}"));
        Assert.Equal("2:1,3:2,", Render("{% for x in [1, 2, 3] if x > 1 %}{{ x }}:{{ loop.index }},{% endfor %}"));
    }

    [Fact]
    public void SetInLoopStaysInLoopButNamespaceCarriesOut()
    {
        const string t = "{% set found = false %}{% set ns = namespace(found=false, n=0) %}"
            + "{% for m in messages %}{% set found = true %}{% if m.role == 'system' %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% endfor %}"
            + "{{ found }} {{ ns.found }} {{ ns.n }}";
        Assert.Equal("False True 2", Render(t, null, ChatMessage.System("s"), ChatMessage.User("u")));
    }

    [Fact]
    public void Macros()
    {
        const string t = "{% macro tag(name, body='') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}{{ tag('a') }}{{ tag('b', body='x') }}";
        Assert.Equal("<a></a><b>x</b>", Render(t));
    }

    [Fact]
    public void WhitespaceFollowsTrimAndLstripBlocks()
    {
        Assert.Equal("  x\nend", Render("  {% if true %}\n  x\n  {% endif %}\nend"));
        Assert.Equal("a\nb", Render("a\n  {% if true -%}\n{%- endif %}b"));
        Assert.Equal("a\n  b", Render("a\n  {%+ if true %}{% endif %}b"));
        Assert.Equal("a|\n|b", Render("a|{% if true +%}\n|{% endif %}b"));
        Assert.Equal("ab", Render("a   {{- 'b' -}}   \n"));
        Assert.Equal("x\n", Render("x\n\n"));
    }

    [Fact]
    public void MultimodalContentAndExtraValues()
    {
        using var tools = JsonDocument.Parse("""[{"name": "tap", "parameters": {"x": 1}}]""");
        var extra = new Dictionary<string, object?> { ["tools"] = tools.RootElement.Clone(), ["n"] = 3, ["flags"] = new[] { "a", "b" } };
        const string t = "{% for m in messages %}{% for p in m.content %}{{ p.type }}{% if p.text is defined %}={{ p.text }}{% endif %};{% endfor %}{% endfor %}"
            + "{{ tools | tojson }}{{ n + 1 }}{{ flags | join }}";
        Assert.Equal("image;text=hi;[{\"name\": \"tap\", \"parameters\": {\"x\": 1}}]4ab",
            Render(t, extra, new ChatMessage("user", [ChatContentPart.Image(), ChatContentPart.FromText("hi")])));
    }

    [Theory]
    [InlineData("{% if x %}abc", 1, 14)]
    [InlineData("line one\n{{ 1 + }}", 2, 8)]
    [InlineData("{% frobnicate %}", 1, 4)]
    [InlineData("ok\n  {{ 'unterminated }}", 2, 6)]
    [InlineData("{% for x in y %}{% endif %}", 1, 20)]
    public void ParseErrorsNamePosition(string template, int line, int column)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template));
        Assert.Equal((line, column), (e.Line, e.Column));
    }

    [Fact]
    public void RenderErrorsNamePosition()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render("a\n{{ raise_exception('bad input') }}"));
        Assert.Equal(2, e.Line);
        Assert.StartsWith("bad input", e.Message);
        e = Assert.Throws<ChatTemplateException>(() => Render("{{ missing.attr }}"));
        Assert.Contains("'missing' is undefined", e.Message);
        e = Assert.Throws<ChatTemplateException>(() => Render("{{ 1 | nosuchfilter }}"));
        Assert.Contains("nosuchfilter", e.Message);
    }
}
