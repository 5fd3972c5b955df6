"""Requests a user might send, written from templates: what a teacher continues when no corpus is given.

A drafter learns the text its target writes, so it is trained best on the target's answers to the requests it
will be asked. Without a corpus, those requests are composed here: tasks of every built-in `bench-draft`
category (questions, explanations, stories, lists, arithmetic with fresh numbers, emails, code in eight
languages) over a spread of topics, and requests written in, or asking for an answer in, thirty languages.
None of them is a built-in `bench-draft` prompt, so the built-in set stays held out. Rendered through the
teacher's chat template when its tokenizer has one, since that is how the target will be asked; as plain text
otherwise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS = (
    "the water cycle", "black holes", "the French Revolution", "photosynthesis", "compound interest", "volcanoes",
    "the printing press", "sleep and memory", "electric cars", "the Roman Empire", "bees and pollination",
    "inflation", "the immune system", "machine learning", "coral reefs", "the Silk Road", "plate tectonics",
    "the history of jazz", "renewable energy", "how bridges stay up", "the Moon landing", "antibiotics",
    "public libraries", "the stock market", "glaciers", "the human heart", "chess openings", "recycling plastic",
    "the invention of the telephone", "migration of birds", "a city at night", "an old clock", "a lost key",
    "a rainy afternoon", "a robot learning to cook", "a small bakery", "a train journey", "the first day at school",
    "a mountain village", "an unexpected letter", "learning to swim", "a garden in spring", "time management",
    "healthy breakfasts", "saving money", "learning a new language", "working from a café", "a job interview",
)

TASKS = (
    "Explain {topic} in simple terms.\n",
    "What should everyone know about {topic}?\n",
    "Why does {topic} matter? Answer in a few sentences.\n",
    "Write a short story about {topic}.\n\n",
    "Write a poem about {topic}.\n\n",
    "List five interesting facts about {topic}.\n1.",
    "Give me three tips related to {topic}:\n-",
    "Summarize the main ideas of {topic} for a student.\n",
    "Write an email to a friend about {topic}.\n\nHi",
    "Write the opening paragraph of a blog post about {topic}.\n\n",
    "Describe {topic} to a ten-year-old.\n",
    "What are the pros and cons of {topic}?\n",
    "Q: Can you tell me about {topic}?\nA:",
    "Write a short dialogue between two people discussing {topic}.\n\n",
)

CODE_LANGUAGES = ("Python", "JavaScript", "TypeScript", "C", "C++", "Rust", "Go", "Java")
CODE_TASKS = (
    "reverses the words in a sentence", "checks whether a number is prime", "reads a CSV file and sums a column",
    "counts how often each word appears in a text", "finds the largest element of a list", "validates an email address",
    "computes the nth Fibonacci number", "removes duplicates from a list while keeping the order",
    "converts Celsius to Fahrenheit", "flattens a nested list", "returns the median of a list of numbers",
    "implements binary search", "parses a date string like 2024-03-15", "merges two dictionaries",
)
CODE_REQUESTS = (
    "Write a {language} function that {task}.\n",
    "In {language}, how do I write code that {task}? Show an example.\n",
    "// {language}: a function that {task}\n",
)
SQL_REQUESTS = (
    "Write an SQL query that lists the {n} most recent orders with their customer names.\n",
    "-- Number of users who signed up in each month of {year}\nSELECT",
    "Write an SQL query to find products that were never ordered.\n",
)

ITEMS = ("apples", "notebooks", "tickets", "pencils", "bottles of water", "loaves of bread", "shirts", "plants")
NAMES = ("Anna", "Ben", "Carlos", "Dina", "Emil", "Fatima", "George", "Hana", "Ivan", "Julia")

NATIVE = {
    "German": (
        "Erkläre mir bitte, wie {topic} funktioniert.\n",
        "Schreibe eine kurze Geschichte über {topic}.\n\n",
        "Was sind die Vor- und Nachteile von {topic}?\n",
        "Nenne fünf interessante Fakten über {topic}.\n1.",
        "Schreibe eine E-Mail an einen Freund über {topic}.\n\nHallo",
        "Warum ist {topic} wichtig? Antworte in wenigen Sätzen.\n",
        ("das Wetter", "die Bahn", "erneuerbare Energie", "das Mittelalter", "gesunde Ernährung", "ein Hund im Park",
         "die Berliner Mauer", "Bienen", "das Sparen", "ein Umzug", "der Klimawandel", "das Homeoffice", "Vulkane", "die Schule"),
    ),
    "French": (
        "Peux-tu m'expliquer simplement {topic} ?\n",
        "Écris un court poème sur {topic}.\n\n",
        "Donne-moi trois conseils sur {topic}.\n-",
        "Raconte une petite histoire sur {topic}.\n\n",
        "Quels sont les avantages et les inconvénients de {topic} ?\n",
        "Écris un e-mail à un collègue au sujet de {topic}.\n\nBonjour",
        ("la cuisine française", "le changement climatique", "les vacances à la mer", "l'histoire de Paris", "le sommeil", "un vieux phare",
         "le vélo en ville", "les abeilles", "la Révolution française", "un entretien d'embauche", "les volcans", "la lecture", "un marché de Noël", "l'école"),
    ),
    "Spanish": (
        "Explícame de forma sencilla {topic}.\n",
        "Escribe un cuento corto sobre {topic}.\n\n",
        "¿Qué ventajas tiene {topic}?\n",
        "Dame cinco consejos sobre {topic}.\n1.",
        "Escribe un correo a un amigo sobre {topic}.\n\nHola",
        "¿Por qué es importante {topic}? Responde en pocas frases.\n",
        ("el fútbol", "la energía solar", "la historia de México", "aprender a cocinar", "un viaje en tren", "los océanos",
         "el reciclaje", "las abejas", "el ahorro", "una entrevista de trabajo", "los volcanes", "la siesta", "el cambio climático", "la escuela"),
    ),
    "Italian": (
        "Spiegami in parole semplici {topic}.\n",
        "Scrivi una breve storia su {topic}.\n\n",
        ("la pizza napoletana", "il Rinascimento", "i vulcani", "una gita in montagna"),
    ),
    "Portuguese": (
        "Explique de forma simples {topic}.\n",
        "Escreva um pequeno texto sobre {topic}.\n\n",
        ("a floresta amazônica", "o carnaval", "a economia doméstica", "um dia na praia"),
    ),
    "Dutch": ("Leg eenvoudig uit wat {topic} is.\n", "Schrijf een kort verhaal over {topic}.\n\n", ("de fiets", "windmolens", "het weer", "een markt")),
    "Russian": ("Объясни простыми словами, что такое {topic}.\n", "Напиши короткий рассказ о {topic}.\n\n", ("космос", "зима", "история Москвы", "кошка")),
    "Polish": ("Wyjaśnij prostymi słowami, czym jest {topic}.\n", "Napisz krótkie opowiadanie o {topic}.\n\n", ("morze", "zima", "rower", "las")),
    "Chinese": (
        "请简单介绍一下{topic}。\n",
        "写一篇关于{topic}的短文。\n\n",
        "{topic}有哪些优点和缺点？\n",
        "关于{topic}，请列出五个有趣的事实。\n1.",
        "为什么{topic}很重要？请用几句话回答。\n",
        "给朋友写一封关于{topic}的邮件。\n\n",
        ("长城", "人工智能", "中国茶文化", "健康饮食", "城市交通", "春节", "熊猫", "气候变化", "网上购物", "太空探索",
         "学习外语", "高铁", "睡眠", "环境保护"),
    ),
    "Japanese": (
        "{topic}について簡単に説明してください。\n",
        "{topic}についての短い物語を書いてください。\n\n",
        "{topic}の良い点と悪い点を教えてください。\n",
        "{topic}について面白い事実を五つ挙げてください。\n1.",
        "{topic}について友達にメールを書いてください。\n\n",
        ("富士山", "日本料理", "桜", "電車の旅", "猫", "地震", "温泉", "お正月", "ロボット", "節約", "睡眠", "環境問題", "アニメ", "京都"),
    ),
    "Korean": ("{topic}에 대해 간단히 설명해 주세요.\n", "{topic}에 대한 짧은 글을 써 주세요.\n\n", ("김치", "서울", "겨울", "한글")),
    "Arabic": ("اشرح لي ببساطة ما هو {topic}.\n", "اكتب قصة قصيرة عن {topic}.\n\n", ("الصحراء", "القهوة", "البحر", "المدينة")),
    "Hindi": ("{topic} के बारे में सरल शब्दों में समझाइए।\n", "{topic} पर एक छोटी कहानी लिखिए।\n\n", ("मानसून", "क्रिकेट", "दिवाली", "गाँव")),
    "Turkish": ("{topic} nedir, basitçe açıklar mısın?\n", "{topic} hakkında kısa bir hikâye yaz.\n\n", ("İstanbul", "çay", "deniz", "kış")),
    "Vietnamese": ("Hãy giải thích đơn giản về {topic}.\n", "Viết một câu chuyện ngắn về {topic}.\n\n", ("phở", "mùa mưa", "Hà Nội", "cà phê")),
    "Indonesian": ("Jelaskan secara sederhana tentang {topic}.\n", "Tulis cerita pendek tentang {topic}.\n\n", ("Bali", "nasi goreng", "hujan", "pasar")),
}
MAIN_LANGUAGES = ("German", "French", "Spanish", "Chinese", "Japanese")  # most requests after English, as the built-in prompts weigh them
ANSWER_IN = (
    "German", "French", "Spanish", "Italian", "Portuguese", "Dutch", "Russian", "Polish", "Chinese", "Japanese",
    "Korean", "Arabic", "Hindi", "Turkish", "Vietnamese", "Indonesian", "Swedish", "Danish", "Norwegian", "Finnish",
    "Greek", "Czech", "Romanian", "Hungarian", "Ukrainian", "Hebrew", "Persian", "Thai", "Bengali", "Swahili",
)


@dataclass(frozen=True)
class Request:
    category: str
    language: str
    text: str


def _math(rng: random.Random) -> str:
    a, b, n = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 12)
    price = rng.randint(50, 990) / 100
    return rng.choice((
        f"{rng.choice(NAMES)} buys {n} {rng.choice(ITEMS)} at ${price:.2f} each. How much does that cost in total? Solve it step by step.\n",
        f"What is {a} times {b}? Show your work.\n",
        f"A car travels {a * n} km in {n} hours. What is its average speed?\n",
        f"If {n} workers build a wall in {a} days, how long would {n * 2} workers take? Explain.\n",
        f"Solve for x: {n}x + {a} = {a + n * b}\n",
        f"{rng.choice(NAMES)} has {a + b} marbles and gives {b} to a friend. How many are left?\n",
    ))


def draw_request(rng: random.Random) -> Request:
    """One request: English tasks, code and arithmetic, and (four in ten) requests written in another language,
    most of them in the five the built-in prompts hold, since a request in English is answered in English."""
    kind = rng.choice(("english", "english", "code", "code", "math", "native", "native", "native", "native", "answer-in"))
    if kind == "english":
        return Request("english", "English", rng.choice(TASKS).format(topic=rng.choice(TOPICS)))
    if kind == "code":
        if rng.random() < 0.15:
            return Request("code", "SQL", rng.choice(SQL_REQUESTS).format(n=rng.randint(3, 20), year=rng.randint(2015, 2025)))
        language = rng.choice(CODE_LANGUAGES)
        return Request("code", language, rng.choice(CODE_REQUESTS).format(language=language, task=rng.choice(CODE_TASKS)))
    if kind == "math":
        return Request("math", "English", _math(rng))
    if kind == "native":
        language = rng.choice(MAIN_LANGUAGES if rng.random() < 0.6 else list(NATIVE))
        *templates, topics = NATIVE[language]
        return Request("language", language, rng.choice(templates).format(topic=rng.choice(topics)))
    language = rng.choice(ANSWER_IN)
    return Request("language", language, f"Answer in {language}. {rng.choice(TASKS).format(topic=rng.choice(TOPICS)).strip()}\n")


def rendered(tokenizer, text: str) -> str:
    """`text` as the model is asked it: through the chat template when the tokenizer has one, without the BOS
    the template may write (the caller adds the tokenizer's own)."""
    if not getattr(tokenizer, "chat_template", None):
        return text
    chat = tokenizer.apply_chat_template([{"role": "user", "content": text.strip()}], tokenize=False, add_generation_prompt=True)
    bos = tokenizer.bos_token
    return chat.removeprefix(bos) if bos else chat
