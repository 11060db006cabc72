using OpenAutoGlm.Engine.Chat;
using Xunit;

namespace OpenAutoGlm.Tests.Chat;

/// <summary>Published chat templates rendered exactly as transformers' apply_chat_template renders them.</summary>
public sealed class PublishedTemplateTests
{
    // meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json chat_template.
    private const string Llama3 = """
        {% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}
        """;

    // Qwen/Qwen2-7B-Instruct tokenizer_config.json chat_template.
    private const string Qwen2 = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
        """;

    // meta-llama/Llama-2-7b-chat-hf tokenizer_config.json chat_template.
    private const string Llama2 = """
        {% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}
        """;

    // The chat_template of glm-4-9b-chat's tokenizer_config.json as published, tools branch included.
    private const string Glm4 =
        "[gMASK]<sop>{% for item in messages %}{% if item['tools'] is defined %}<|system|>\n你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具{% set tools = item['tools'] %}{% for tool in tools %}{% if tool['type'] == 'function' %}\n\n## {{ tool['function']['name'] }}\n\n{{ tool['function'] | tojson(indent=4) }}\n在调用上述函数时，请使用 Json 格式表示调用的参数。{% elif tool['type'] == 'python' %}\n\n## python\n\n当你向 `python` 发送包含 Python 代码的消息时，该代码将会在一个有状态的 Jupyter notebook 环境中执行。\n`python` 返回代码执行的输出，或在执行 60 秒后返回超时。\n`/mnt/data` 将会持久化存储你的文件。在此会话中，`python` 无法访问互联网。不要使用 `python` 进行任何网络请求或者在线 API 调用，这些在线内容的访问将不会成功。{% elif tool['type'] == 'simple_browser' %}\n\n## simple_browser\n\n你可以使用 `simple_browser` 工具。该工具支持以下函数：\n`search(query: str, recency_days: int)`：使用搜索引擎进行查询并显示结果，可以使用 `recency_days` 参数控制搜索内容的时效性。\n`mclick(ids: list[int])`：获取一系列指定 id 的页面内容。每次调用时，须选择3-10个页面。选择多个角度的页面，同时尽可能选择可信任的信息来源。考虑到部分页面是无法加载的，你也可以多打开一些可能有用的页面而不用担心内容过多。\n`open_url(url: str)`：打开指定的 URL。\n\n使用 `【{引用 id}†{引用文本}】` 来引用内容。\n\n操作步骤：1. 使用 `search` 来获得信息列表; 2. 使用 `mclick` 来获取指定 ID 页面的内容; 3. 根据获得的内容进行回复。在回复中应当引用信息来源。\n 如果用户提供了 URL，也可以用 `open_url` 直接打开页面。\n如果初次搜索结果没有找到合适的信息，也可以再次使用 `search` 进行搜索。{% elif tool['type'] == 'cogview' %}\n\n## cogview\n\n如果用户的请求中包含了对图像的描述，你可以使用 `cogview` 来生成图像并展示给用户。你需要向 `cogview` 发送图像描述，规则：\n- 发送给 `cogview` 的消息必须使用英语。用户的中文描述必须完全翻译为英语。\n- 应当尽可能详细地描述图像生成的需求，需求描述约 100 英文单词。\n- 保持用户原始描述的意图。不要虚构内容或者没见过的人物。\n- 如无特殊说明，所在地为中国，持有中国立场并遵循中国社会主义价值观。{% endif %}{% endfor %}{% endif %}{% if item['content'] %}<|{{ item['role'] }}|>{{ item['metadata'] }}\n{{ item['content'] }}{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

    // The chat_template of GLM-4.1V-9B-Thinking as published (the processor's template, multi-line: trim_blocks, lstrip_blocks
    // and the "-" modifiers decide every newline).
    private const string Glm41V = """
        [gMASK]<sop>
        {%- for msg in messages %}
            {%- if msg.role == 'system' %}
        <|system|>
        {{ msg.content }}
            {%- elif msg.role == 'user' %}
        <|user|>{{ '\n' }}

                {%- if msg.content is string %}
        {{ msg.content }}
                {%- else %}
                    {%- for item in msg.content %}
                        {%- if item.type == 'video' or 'video' in item %}
        <|begin_of_video|><|video|><|end_of_video|>
                        {%- elif item.type == 'image' or 'image' in item %}
        <|begin_of_image|><|image|><|end_of_image|>
                        {%- elif item.type == 'text' %}
        {{ item.text }}
                        {%- endif %}
                    {%- endfor %}
                {%- endif %}
            {%- elif msg.role == 'assistant' %}
                {%- if msg.metadata %}
        <|assistant|>{{ msg.metadata }}
        {{ msg.content }}
                {%- else %}
        <|assistant|>
        {{ msg.content }}
                {%- endif %}
            {%- endif %}
        {%- endfor %}
        {% if add_generation_prompt %}<|assistant|>
        {% endif %}
        """;

    private static readonly ChatMessage[] Conversation =
    [
        ChatMessage.System("You are a bot."),
        ChatMessage.User("Hi"),
        ChatMessage.Assistant("Hello!"),
        ChatMessage.User("How are you? "),
    ];

    [Fact]
    public void Llama3_MultiTurnWithSystemAndGenerationPrompt()
    {
        string text = ChatTemplate.Parse(Llama3).Render(Conversation, true, new Dictionary<string, object?> { ["bos_token"] = "<|begin_of_text|>" });
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a bot.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n", text);
    }

    [Fact]
    public void Llama3_WithoutGenerationPrompt()
    {
        string text = ChatTemplate.Parse(Llama3).Render([ChatMessage.User("x")], false, new Dictionary<string, object?> { ["bos_token"] = "<s>" });
        Assert.Equal("<s><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>", text);
    }

    [Fact]
    public void Qwen2_InsertsDefaultSystemPrompt()
    {
        string text = ChatTemplate.Parse(Qwen2).Render([ChatMessage.User("Hi"), ChatMessage.Assistant("Hello!"), ChatMessage.User("Bye")], true);
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            + "<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Qwen2_KeepsGivenSystemPrompt()
    {
        string text = ChatTemplate.Parse(Qwen2).Render(Conversation, false);
        Assert.Equal(
            "<|im_start|>system\nYou are a bot.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you? <|im_end|>\n", text);
    }

    [Fact]
    public void Llama2_FoldsSystemIntoFirstTurn()
    {
        var extra = new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" };
        string text = ChatTemplate.Parse(Llama2).Render(
            [ChatMessage.System("SYS"), ChatMessage.User("Hi"), ChatMessage.Assistant("Hello"), ChatMessage.User(" Bye ")], true, extra);
        Assert.Equal("<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]", text);
    }

    [Fact]
    public void Llama2_RaisesOnNonAlternatingRoles()
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(Llama2).Render(
            [ChatMessage.User("a"), ChatMessage.User("b")], false, new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }));
        Assert.Contains("Conversation roles must alternate", e.Message);
        Assert.Equal(1, e.Line);
    }

    [Fact]
    public void Glm4_MultiTurnWithSystemAndGenerationPrompt()
    {
        // The conversation and expected text of llama.cpp's chat-template test for this template: no newline after the final
        // <|assistant|>, contents verbatim (spaces kept), the missing metadata rendering as nothing.
        string text = ChatTemplate.Parse(Glm4).Render(
        [
            ChatMessage.System("You are a helpful assistant"), ChatMessage.User("Hello"), ChatMessage.Assistant("Hi there"),
            ChatMessage.User("Who are you"), ChatMessage.Assistant("   I am an assistant   "), ChatMessage.User("Another question"),
        ], true);
        Assert.Equal(
            "[gMASK]<sop><|system|>\nYou are a helpful assistant<|user|>\nHello<|assistant|>\nHi there<|user|>\nWho are you"
            + "<|assistant|>\n   I am an assistant   <|user|>\nAnother question<|assistant|>", text);
    }

    [Fact]
    public void Glm41V_ImageTurnMatchesDocumentedRendering()
    {
        string text = ChatTemplate.Parse(Glm41V).Render(
            [ChatMessage.System("You are a phone agent."), new ChatMessage("user", [ChatContentPart.Image(), ChatContentPart.FromText("Open settings")])],
            true);
        Assert.Equal(
            "[gMASK]<sop><|system|>\nYou are a phone agent.<|user|>\n<|begin_of_image|><|image|><|end_of_image|>Open settings<|assistant|>\n",
            text);
    }

    [Fact]
    public void Glm41V_MultiTurnWithPlainAndMultimodalContent()
    {
        string text = ChatTemplate.Parse(Glm41V).Render(
        [
            ChatMessage.System("S"),
            new ChatMessage("user", [ChatContentPart.FromText("Look: "), ChatContentPart.Image(), ChatContentPart.Video()]),
            ChatMessage.Assistant("<answer>ok</answer>"),
            ChatMessage.User("next"),
        ], false);
        Assert.Equal(
            "[gMASK]<sop><|system|>\nS<|user|>\nLook: <|begin_of_image|><|image|><|end_of_image|><|begin_of_video|><|video|><|end_of_video|>"
            + "<|assistant|>\n<answer>ok</answer><|user|>\nnext", text);
    }

    [Fact]
    public void TokenizerConfig_NamedTemplatesAndAddedTokenObjects()
    {
        const string json = """
            {
              "bos_token": {"content": "<|begin_of_text|>", "lstrip": false},
              "eos_token": "<|eot_id|>",
              "chat_template": [
                {"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"},
                {"name": "tool_use", "template": "tools"}
              ]
            }
            """;
        var config = TokenizerChatConfig.Parse(json);
        Assert.Equal("<|begin_of_text|>", config.BosToken);
        Assert.Equal("<|begin_of_text|>a<|eot_id|>", config.Render([ChatMessage.User("a")], false));
        Assert.Equal("tools", TokenizerChatConfig.Parse(json, "tool_use").Render([], false));
        Assert.Throws<InvalidDataException>(() => TokenizerChatConfig.Parse(json, "missing"));
    }

    [Fact]
    public void TokenizerConfig_StringTemplateFromJsonEscapes()
    {
        var config = TokenizerChatConfig.Parse("""{"chat_template": "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' }}{% endfor %}"}""");
        Assert.Null(config.BosToken);
        Assert.Equal("<|im_start|>user\n", config.Render([ChatMessage.User("a")], false));
    }
}
