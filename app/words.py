"""Words of a text as the library's searches and the answer checks compare them."""

from __future__ import annotations

import re

# Words too common to tell pages apart (question words, function words, the needle's "number").
STOPWORDS = frozenset("""a an and are as at be by do does for from has have how i in is it its
me my of on or please reply say that the their this to was what when where which who why with
you your only number""".split())
# Words a question uses to ask rather than to name what it is about ("what is this document about?"):
# they pick no chunk of a long document (app.chunks).
ASKING = frozenset("""if can will would there these those them tell say says whom whose about document text page
pages give explain describe""".split())
NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*")  # 4821, 3.5, 1,024, 10:30, 2024/05
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")  # letters, with inner apostrophes


def terms(text: str) -> list[str]:
    """Lower-cased ``\\w+`` runs of ``text`` that are not stopwords, in order."""
    return [w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]


def stem(word: str) -> str:
    """A word's comparable form: lower case, without a possessive or a plural -s."""
    word = re.sub(r"['’]s$", "", word.lower())
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def number_key(number: str) -> str:
    """A number's comparable form: thousands commas and a trailing point dropped (1,024 = 1024)."""
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", number).rstrip(".")
