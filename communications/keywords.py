"""What a debtor's text message asks for: to stop texts (47 CFR 64.1200(a)(10)),
to start them again, or help. ``classify(body)`` answers ``"stop"``,
``"start"``, ``"help"`` or None; ``communications.inbound`` acts on it.

The FCC's rule is that consent may be revoked "by any reasonable means": the
words its 2024 order names as always sufficient (stop, quit, end, revoke,
opt out, cancel, unsubscribe), the carriers' keywords (STOPALL, OPTOUT...)
and any words a reasonable person would read as "stop texting me" must be
honoured, in any case and with any punctuation. A missed revocation is a
text the debtor forbade (and a TCPA claim per text); a revocation read
where there was none only stops texts until the debtor replies START,
which the confirmation tells them. So the reading leans towards stop, but
not blindly: "I can't stop by today, will pay friday" contains STOP and is
not a revocation. How it reads a message:

1. **Normalised first** (``normalise``): Unicode compatibility forms (full-
   width letters), accents dropped (Spanish "más" is "mas"), lower case,
   apostrophes dropped in every form a phone types them ("don’t" is
   "dont"), every other non-letter a space, whitespace collapsed.
2. **The whole message is a keyword** (``STOP``, ``Stop.``, ``stop!!``,
   ``STOP ALL``, ``opt-out``, ``Unsubscribe me please``): a stop keyword
   may come with polite or emphatic filler words (``FILLER``: please,
   thanks, now, me, ok...), and repeated (``stop stop``). START and UNSTOP
   re-subscribe only as the whole message, with at most a "please" or
   "thanks" (``START_COMPANIONS``), and YES only alone: opting someone back
   in on a guess would be the harmful mistake. HELP and INFO with filler
   words ("Help me!"). A message that is both a stop and a help keyword
   ("HELP STOP") is a stop.
3. **A clause is a stop keyword** (``Stop. I will pay friday``, ``ok,
   cancel``): the message is cut at sentence punctuation (. ! ? , ; : and
   line breaks) and each clause read as in 2, for stop keywords only.
4. **A revocation phrase, at word boundaries** (``STOP_PHRASES``: "stop
   texting me", "don't text me", "remove me from your list", "no more
   texts", "leave me alone", "wrong number", "revoke my consent"...),
   anywhere in the message. The word STOP alone never counts inside a
   sentence (that is what keeps "can't stop by today" a message, not a
   stop), and a phrase right after "don't" / "can't" ("don't stop texting
   me") does not either.

Steps 3 and 4 apply to messages of at most ``MAX_WORDS`` words (40, two
text messages' worth): replies to a collector's text are short, a
revocation in them is what they say, and the cap keeps a long account of
someone's circumstances, which may mention "remove me" or "take me off"
about something else, from being read as one. A longer message is only
stored (``InboundMessage``), unless it is a keyword as a whole.

A text is a "call" under the TCPA, so "stop calling me" sent by text is a
revocation too. A few Spanish and French words are read as well (ALTO,
PARA, BASTA, CANCELAR, ARRET; AYUDA, AIDE for help), for the es-US and
fr-CA debtors the templates write to."""

from __future__ import annotations

import re
import unicodedata

STOP, START, HELP = "stop", "start", "help"

MAX_WORDS = 40

# Whole-message (or whole-clause) keywords, as ``normalise`` leaves them.
STOP_KEYWORDS = frozenset(
    {
        "stop", "stopall", "stop all", "unsubscribe", "unsub", "unsuscribe", "unsubcribe",
        "cancel", "end", "quit", "revoke", "opt out", "optout", "opt me out", "stop it",
        "stop this", "stop that", "stop them", "enough", "cease", "cease and desist",
        # Spanish and French (Canada): the templates' other locales.
        "alto", "para", "parar", "basta", "cancelar", "detener", "no mas", "baja", "arret",
        "arrete", "arreter",
    }
)  # fmt: skip
START_KEYWORDS = frozenset({"start", "unstop", "yes"})
# The only words START and UNSTOP may come with ("Start please", "yes
# start"); YES counts only alone.
START_COMPANIONS = frozenset({"please", "pls", "plz", "thanks", "thank", "you", "ok", "okay",
                              "yes", "again"})  # fmt: skip
HELP_KEYWORDS = frozenset({"help", "info", "ayuda", "aide"})

# Words that may surround a stop keyword without changing what it says
# ("STOP please", "ok stop", "stop now!!", "unsubscribe me thanks").
FILLER = frozenset(
    {
        "please", "pls", "plz", "plss", "pleas", "thanks", "thank", "you", "thx", "ty", "now",
        "right", "just", "already", "immediately", "asap", "ok", "okay", "k", "yes", "no",
        "sir", "maam", "me", "again", "anymore", "ever", "por", "favor", "merci",
    }
)  # fmt: skip

# Revocation phrases (normalised words, regular expressions matched at word
# boundaries). Each names what is to stop (texts, messages, contact, this
# number, the list) or is unambiguous on its own. "Send" needs an object
# ("don't send me...", "stop sending"): "don't send the letter to my old
# address" is not about texts.
_TEXTING = (
    r"(?:texting|texing|txting|text|texts|txt|txts|messaging|message|messages|msg|msgs|sms"
    r"|contacting|contact|calling|call|calls|bothering|harassing|harrassing|emailing)"
)
_SEND_ME = r"(?:send|sending) (?:me|us|texts|messages|these|those|this|any|anything|stuff)"
_US = r"(?:me|us|my number|this number|my phone|this phone|my cell|my cell phone)"
_LIST = (
    r"(?:your|ur|the|this|that|ya|yall|these|all|you|my)\s(?:\w+\s)?"
    r"(?:list|lists|texts|messages|system|contacts|records|database|file|files|calls|alerts)"
)
STOP_PHRASES: tuple[str, ...] = (
    rf"stop (?:all )?(?:the |these |this |those |your |ur |with the )?(?:{_TEXTING}|sending|send)",
    rf"quit (?:{_TEXTING}|sending)",
    rf"(?:dont|do not|never|no longer) (?:ever )?(?:{_TEXTING}|{_SEND_ME})",
    rf"(?:no more|nomore|not any more|no mas) (?:{_TEXTING}|mensajes|textos)",
    r"no (?:texts|texting|txts|sms|mensajes|textos)",
    r"unsubscribe",
    r"opt (?:me )?out",
    r"optout",
    rf"remove {_US}$",
    rf"remove {_US} from {_LIST}",
    rf"take {_US} off {_LIST}",
    rf"take {_US} off$",
    r"(?:delete|lose|forget) (?:my|this) (?:number|phone|cell)",
    r"leave me alone",
    r"wrong (?:number|person|phone)",
    r"(?:revoke|withdraw|rescind|cancel|take back) (?:my |all |any |your )?"
    r"(?:consent|permission|authorization|authorisation)",
    r"i (?:hereby )?revoke",
    r"cancel (?:my |the |this |your |these )?(?:subscription|texts|messages|alerts|notifications)",
    r"cease (?:and desist|all|communication|communications|contact|contacting|texting)",
    r"(?:deja|dejen|dejar) de (?:enviar|mandar|escribir|llamar)",
)
# A phrase right after these is negated or not a request ("don't stop
# texting me", "can't stop calling").
_NOT_BEFORE = ("dont ", "do not ", "cant ", "cannot ", "can not ", "wont ", "will not ")
_STOP_RE = re.compile(
    "".join(f"(?<!{re.escape(word)})" for word in _NOT_BEFORE)
    + r"\b(?:"
    + "|".join(STOP_PHRASES)
    + r")\b"
)

_APOSTROPHES = re.compile(r"['\u2018\u2019\u201b\u02bc\u02b9\u0060\u00b4\u2032]")
_NON_WORD = re.compile(r"[\W_]+")
_CLAUSE_BREAK = re.compile(r"[.!?,;:\n\r\u2026\u00a1\u00bf()\[\]]+|\s[-\u2013\u2014]+\s")


def normalise(text: str) -> str:
    """``text`` as the keywords and phrases are written: compatibility
    forms and accents folded, lower case, apostrophes (straight or curly)
    removed, anything else that is not a letter or a digit a single space."""
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("", text.casefold())
    return " ".join(_NON_WORD.sub(" ", text).split())


# The words of the several-word keywords ("stop all", "opt out", "no mas"):
# they may stand among single-word keywords ("stop it stop it", "end it").
_KEYWORD_WORDS = frozenset(w for k in STOP_KEYWORDS for w in k.split())
_SINGLE_STOP_KEYWORDS = frozenset(k for k in STOP_KEYWORDS if " " not in k)


def _is_stop_keyword(normalised: str) -> bool:
    """Whether these words are a stop keyword, with filler words around it
    and repeated at will ("stop", "STOP please", "stop stop", "ok unsubscribe
    me", "stop it stop it", "help stop", "S T O P")."""
    if normalised in STOP_KEYWORDS:
        return True
    words = [w for w in normalised.split() if w not in FILLER]
    if not words:
        return False
    if len(words) > 1 and all(len(w) == 1 for w in words):  # spelled out
        words = ["".join(words)]
    if " ".join(words) in STOP_KEYWORDS:
        return True
    return any(w in _SINGLE_STOP_KEYWORDS for w in words) and all(
        w in _KEYWORD_WORDS or w in HELP_KEYWORDS for w in words
    )


def _is_start(normalised: str) -> bool:
    """START or UNSTOP with nothing but ``START_COMPANIONS`` around them."""
    words = normalised.split()
    return any(w in ("start", "unstop") for w in words) and all(
        w in ("start", "unstop") or w in START_COMPANIONS for w in words
    )


def _is_help(normalised: str) -> bool:
    """HELP or INFO, alone or with filler words ("help please", "Help me!")."""
    words = [w for w in normalised.split() if w not in FILLER]
    return bool(words) and all(w in HELP_KEYWORDS for w in words)


def classify(body: str) -> str | None:
    """``"stop"``, ``"start"``, ``"help"`` or None (an ordinary message)
    for a text message's ``body``; see the module's docstring for how. A
    message that is both (``HELP STOP``) is a stop."""
    whole = normalise(body)
    if not whole:
        return None
    if whole in START_KEYWORDS or _is_start(whole):
        return START
    if _is_stop_keyword(whole):
        return STOP
    if _is_help(whole):
        return HELP
    if len(whole.split()) > MAX_WORDS:
        return None
    for clause in _CLAUSE_BREAK.split(body):
        if _is_stop_keyword(normalise(clause)):
            return STOP
    if _STOP_RE.search(whole):
        return STOP
    return None
